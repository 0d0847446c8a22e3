//! Why reading an error body stopped early.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::body::Stop;
use crate::sanitize::Sanitized;
use crate::BoxError;

/// Why the layer stopped reading an error body before its end.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Incomplete {
    /// The body is larger than the cap. With a `Content-Length` above the cap nothing was read;
    /// otherwise the first `limit` bytes were.
    TooLarge {
        /// The cap in force (`max_body_bytes`).
        limit: usize,
        /// The length the response declared, when it declared one above the cap.
        content_length: Option<u64>,
    },
    /// The body did not end within the time limit (`body_timeout`).
    TimedOut {
        /// The time limit in force.
        after: Duration,
    },
    /// The body stream failed (a reset connection, a length that lied, ...).
    Failed(BodyError),
    /// The body was not complete and could not be waited for under `body_timeout`: the tokio
    /// runtime has no timer (build it with `enable_time` or `enable_all`).
    /// tokio says so only by panicking: the panic is caught, but the panic hook still prints
    /// tokio's message, and under `panic = "abort"` the process aborts instead.
    NoTimer,
}

impl From<Stop> for Incomplete {
    fn from(stop: Stop) -> Self {
        match stop {
            Stop::Refused { limit, declared } => Self::TooLarge {
                limit,
                content_length: Some(declared),
            },
            Stop::Cut { limit } => Self::TooLarge {
                limit,
                content_length: None,
            },
            Stop::TimedOut { after } => Self::TimedOut { after },
            Stop::Failed(error) => Self::Failed(error),
            Stop::NoTimer => Self::NoTimer,
        }
    }
}

impl fmt::Display for Incomplete {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge {
                limit,
                content_length: Some(length),
            } => write!(
                f,
                "body of {length} bytes is over the {limit}-byte cap and was not read"
            ),
            Self::TooLarge { limit, .. } => {
                write!(
                    f,
                    "body is over the {limit}-byte cap; the first {limit} bytes were read"
                )
            }
            Self::TimedOut { after } => write!(f, "body did not end within {after:?}"),
            Self::Failed(error) => write!(f, "body failed: {error}"),
            Self::NoTimer => f.write_str(
                "body was not read to its end: the tokio runtime has no timer for body_timeout (build it with enable_time or enable_all)",
            ),
        }
    }
}

/// The error an error body's stream failed with, shared so that the structured error stays
/// cheap to clone.
#[derive(Clone)]
pub struct BodyError(Arc<dyn StdError + Send + Sync>);

impl BodyError {
    pub(crate) fn new(error: impl Into<BoxError>) -> Self {
        Self(Arc::from(error.into()))
    }

    /// Returns the underlying error, to downcast (for example to `hyper::Error`).
    pub fn get_ref(&self) -> &(dyn StdError + Send + Sync + 'static) {
        &*self.0
    }
}

/// The underlying error's `Debug`, sanitised and bounded as `Display` is: its text may quote
/// what the network sent, and it is printed by the `Debug` of every error that holds it.
impl fmt::Debug for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", Sanitized::new(&format!("{:?}", self.0)))
    }
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", Sanitized::new(&self.0.to_string()))
    }
}

/// Shows the underlying error (sanitised), so its source is the underlying error's source.
impl StdError for BodyError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.0.source()
    }
}
