//! The capture on `reqwest` types: a `reqwest::Response` goes through the same capture as an
//! `http::Response`, and in pass-through mode comes back as a `reqwest::Response` with its URL,
//! status, version, headers and extensions intact.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use pin_project_lite::pin_project;
use reqwest::{Response, ResponseBuilderExt, Url};

use crate::middleware::{
    into_error, into_pass_through, is_error_status, Capture, Captured, Limits,
};
use crate::Error;

/// What a reqwest response turned out to be.
pub(crate) enum Outcome {
    /// 1xx/2xx/3xx: the response as it came, never converted.
    Passed(Response),
    /// 4xx/5xx: its body, captured, and the URL it came from.
    Captured(Box<Captured<reqwest::Body>>, Url),
}

impl Outcome {
    /// The default mode's result.
    pub(crate) fn into_result(self, strict: bool) -> Result<Response, Error> {
        match self {
            Self::Passed(response) => Ok(response),
            Self::Captured(captured, _) => Err(into_error(&captured, strict)),
        }
    }

    /// Pass-through mode's response: an error response rebuilt with its body replayed and the
    /// [`ApiError`](crate::ApiError) in its extensions.
    pub(crate) fn into_response(self) -> Response {
        match self {
            Self::Passed(response) => response,
            Self::Captured(captured, url) => {
                let (mut parts, body) = into_pass_through(*captured).into_parts();
                // `reqwest::Response::from(http::Response)` takes the URL from an extension that
                // only reqwest's `ResponseBuilderExt::url` can write; converting the other way
                // drops it. Carry it over from a builder.
                if let Ok(carrier) = http::Response::builder().url(url).body(()) {
                    parts.extensions.extend(carrier.into_parts().0.extensions);
                }
                Response::from(http::Response::from_parts(parts, reqwest::Body::wrap(body)))
            }
        }
    }
}

/// An error body's capture, out of line: it exists only on the error path.
type BoxedCapture = Pin<Box<Capture<reqwest::Body>>>;

/// Starts the capture of an error response; hands any other response back as it is.
fn start(response: Response, limits: Limits) -> Result<Response, (BoxedCapture, Url)> {
    if !is_error_status(response.status()) {
        return Ok(response);
    }
    let url = response.url().clone();
    let capture = Capture::new(http::Response::from(response), limits);
    Err((Box::pin(capture), url))
}

/// Reads a reqwest response's error body, if it has one, under `limits`.
pub(crate) async fn intercept(response: Response, limits: Limits) -> Outcome {
    match start(response, limits) {
        Ok(response) => Outcome::Passed(response),
        Err((capture, url)) => Outcome::Captured(Box::new(capture.await), url),
    }
}

pin_project! {
    /// The state machine both tower futures share.
    #[project = InterceptProj]
    pub(crate) enum Intercept<F> {
        Waiting { #[pin] future: F, limits: Limits },
        Capturing { capture: BoxedCapture, url: Option<Url> },
        Done,
    }
}

impl<F, E> Intercept<F>
where
    F: Future<Output = Result<Response, E>>,
{
    pub(crate) fn poll_outcome(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Outcome, E>> {
        loop {
            match self.as_mut().project() {
                InterceptProj::Waiting { future, limits } => {
                    let result = ready!(future.poll(cx));
                    let limits = *limits;
                    let response = match result {
                        Ok(response) => response,
                        Err(error) => {
                            self.set(Self::Done);
                            return Poll::Ready(Err(error));
                        }
                    };
                    match start(response, limits) {
                        Ok(response) => {
                            self.set(Self::Done);
                            return Poll::Ready(Ok(Outcome::Passed(response)));
                        }
                        Err((capture, url)) => self.set(Self::Capturing {
                            capture,
                            url: Some(url),
                        }),
                    }
                }
                InterceptProj::Capturing { capture, url } => {
                    let captured = ready!(capture.as_mut().poll(cx));
                    let url = url.take().expect("url taken once");
                    self.set(Self::Done);
                    return Poll::Ready(Ok(Outcome::Captured(Box::new(captured), url)));
                }
                InterceptProj::Done => panic!("response future polled after it completed"),
            }
        }
    }
}
