//! A scripted upstream that records every request: the retry policy's and the composed stack's
//! tests read when each request arrived (on tokio's clock, paused in those tests), and what it
//! carried.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request};
use hyper::body::Incoming;
use tokio::time::Instant;

use crate::support::{collect, serve_async, ServerBody};

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub at: Instant,
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

pub type Arrivals = Arc<Mutex<Vec<Arrival>>>;

/// A server that answers the `n`th request with `answer(n, &arrival)` and records every
/// request with its arrival time (tokio's clock) and body.
pub async fn scripted<F>(answer: F) -> (SocketAddr, Arrivals)
where
    F: Fn(usize, &Arrival) -> http::Response<ServerBody> + Send + Sync + 'static,
{
    let arrivals: Arrivals = Arc::default();
    let log = arrivals.clone();
    let answer = Arc::new(answer);
    let addr = serve_async(move |request: Request<Incoming>| {
        let (log, answer) = (log.clone(), answer.clone());
        async move {
            let at = Instant::now();
            let (parts, body) = request.into_parts();
            let body = collect(body).await;
            let arrival = Arrival {
                at,
                method: parts.method,
                path: parts.uri.path().to_owned(),
                headers: parts.headers,
                body,
            };
            let n = {
                let mut log = log.lock().unwrap();
                log.push(arrival.clone());
                log.len() - 1
            };
            answer(n, &arrival)
        }
    })
    .await;
    (addr, arrivals)
}

/// A copy of what the server saw so far.
pub fn arrivals(log: &Arrivals) -> Vec<Arrival> {
    log.lock().unwrap().clone()
}

/// The time between each arrival and the next.
pub fn gaps(arrivals: &[Arrival]) -> Vec<Duration> {
    arrivals
        .windows(2)
        .map(|pair| pair[1].at - pair[0].at)
        .collect()
}
