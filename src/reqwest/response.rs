//! `reqwest::Response` through the layer's one state machine: an error response keeps its URL,
//! status, version, headers and extensions, in pass-through mode too.

use http::StatusCode;
use reqwest::{Response, ResponseBuilderExt, Url};

use crate::middleware::future::HttpResponse;
use crate::PassThroughBody;

impl HttpResponse for Response {
    type Body = reqwest::Body;
    type Kept = Url;
    type PassThrough = Response;

    #[inline]
    fn status(&self) -> StatusCode {
        Response::status(self)
    }

    fn into_http(self) -> (http::Response<reqwest::Body>, Url) {
        let url = self.url().clone();
        (http::Response::from(self), url)
    }

    #[inline]
    fn untouched(self) -> Response {
        self
    }

    fn replayed(response: http::Response<PassThroughBody<reqwest::Body>>, url: Url) -> Response {
        let (mut parts, body) = response.into_parts();
        // `reqwest::Response::from(http::Response)` takes the URL from an extension that only
        // reqwest's `ResponseBuilderExt::url` can write; converting the other way drops it.
        // Carry it over from a builder.
        if let Ok(carrier) = http::Response::builder().url(url).body(()) {
            parts.extensions.extend(carrier.into_parts().0.extensions);
        }
        Response::from(http::Response::from_parts(parts, reqwest::Body::wrap(body)))
    }

    fn passed_extensions(passed: &Response) -> &http::Extensions {
        passed.extensions()
    }
}
