//! Reading a body under a byte cap and a deadline, and replaying what was read.
//!
//! Both the error layer (response bodies) and request buffering (request bodies) read through
//! [`Read`]: it needs only the body and the length the head declared, never a response head.
//! What was read comes back as [`Collected`]: the bytes for the caller to parse or keep, why
//! reading stopped early ([`Stop`], from which the public `Incomplete` is made) and a
//! [`Replay`] body that sends every byte again, then the rest of the stream.

mod detach;
mod read;
mod replay;

pub(crate) use detach::detach;
pub(crate) use read::{Collected, Limits, Read, Stop};
pub(crate) use replay::{bytes_frame, Replay};

#[cfg(test)]
mod tests;
