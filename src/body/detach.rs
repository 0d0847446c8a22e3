//! Copying what a structured error keeps out of the transport's buffers.
//!
//! hyper hands out a response's header values, and each frame of its body, as slices of the
//! connection's read buffer, which grows to about 408 KiB on a connection that has carried a
//! large body; any one slice kept keeps the whole buffer alive. An error outlives its
//! connection (in a log queue, a job's last error), so it keeps copies, in one allocation.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue};

/// Copies the values of `headers`, and `read` when it is a frame as the transport gave it
/// (`read_is_frame`), into one allocation of exactly their length; returns the bytes read.
///
/// A body of several frames was already copied into a buffer of its own, of its own length,
/// and is returned as it is.
pub(crate) fn detach(headers: &mut HeaderMap, read: Bytes, read_is_frame: bool) -> Bytes {
    let body_len = if read_is_frame { read.len() } else { 0 };
    let total = headers
        .values()
        .fold(body_len, |total, value| total + value.len());
    if total == 0 {
        return read;
    }
    let mut copy = Vec::with_capacity(total);
    copy.extend_from_slice(&read[..body_len]);
    for value in headers.values() {
        copy.extend_from_slice(value.as_bytes());
    }
    let copy = Bytes::from(copy);
    let mut at = body_len;
    // `values` and `values_mut` visit the values in the same order.
    for value in headers.values_mut() {
        let end = at + value.len();
        // A valid value's bytes make a valid value; on the impossible failure, keep it.
        if let Ok(mut copied) = HeaderValue::from_maybe_shared(copy.slice(at..end)) {
            copied.set_sensitive(value.is_sensitive());
            *value = copied;
        }
        at = end;
    }
    if read_is_frame {
        copy.slice(..body_len)
    } else {
        read
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_every_value_and_a_frame_into_one_allocation() {
        let head = Bytes::from_static(b"c-1r-1,r-1secret");
        let mut headers = HeaderMap::new();
        headers.insert(
            "ms-correlationid",
            HeaderValue::from_maybe_shared(head.slice(0..3)).unwrap(),
        );
        headers.append(
            "ms-requestid",
            HeaderValue::from_maybe_shared(head.slice(3..10)).unwrap(),
        );
        headers.append("ms-requestid", HeaderValue::from_static("r-2"));
        let mut secret = HeaderValue::from_maybe_shared(head.slice(10..)).unwrap();
        secret.set_sensitive(true);
        headers.insert("authorization", secret);
        let frame = Bytes::from_static(b"{\"code\":\"1\"}");

        let read = detach(&mut headers, frame.clone(), true);

        assert_eq!(read, frame);
        assert_ne!(read.as_ptr(), frame.as_ptr(), "the frame was copied");
        let requests: Vec<_> = headers.get_all("ms-requestid").iter().collect();
        assert_eq!(requests, ["r-1,r-1", "r-2"]);
        assert_eq!(headers["ms-correlationid"], "c-1");
        assert!(headers["authorization"].is_sensitive());
        // Everything now lies in one allocation, the body's.
        let start = read.as_ptr() as usize;
        for value in headers.values() {
            let at = value.as_bytes().as_ptr() as usize;
            assert!((start..start + 64).contains(&at), "{value:?} not copied");
        }
    }

    #[test]
    fn a_body_of_its_own_is_not_copied() {
        let mut headers = HeaderMap::new();
        headers.insert("ms-cv", HeaderValue::from_static("cv"));
        let own = Bytes::from(b"read in several frames".to_vec());
        let read = detach(&mut headers, own.clone(), false);
        assert_eq!(read.as_ptr(), own.as_ptr());
        assert_eq!(headers["ms-cv"], "cv");
        let empty = detach(&mut HeaderMap::new(), Bytes::new(), true);
        assert!(empty.is_empty());
    }
}
