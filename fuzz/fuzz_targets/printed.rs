//! What every printed form of network text must be, shared by the targets that print: no
//! character that can steer a terminal or reorder a line, and a bounded length.

/// Whether `c` may not appear raw in a printed form: a control character (C0, DEL, C1), a bidi
/// control, a zero-width or otherwise invisible format character, the BOM, the line and
/// paragraph separators. (A hand-kept list of the format characters that matter, so that the
/// check does not share the crate's table.)
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{ad}'
                | '\u{61c}'
                | '\u{180e}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{206f}'
                | '\u{feff}'
                | '\u{fff9}'..='\u{fffb}'
                | '\u{e0001}'
                | '\u{e0020}'..='\u{e007f}'
        )
}

/// Asserts that `printed` (a `Display` or plain `Debug`: one line) has no unsafe character and
/// is at most `max_bytes` long.
pub fn assert_safe(what: &str, printed: &str, max_bytes: usize) {
    assert!(
        !printed.chars().any(is_unsafe),
        "{what}: unsafe character in {printed:?}"
    );
    assert!(
        printed.len() <= max_bytes,
        "{what}: {} bytes, over {max_bytes}",
        printed.len()
    );
}
