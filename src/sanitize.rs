//! Printing text that came from the network: control characters escaped, length bounded.

use std::fmt;

/// Most characters of one network-supplied text that `Display` impls print.
pub(crate) const MAX_DISPLAY_CHARS: usize = 300;

/// Displays `text` with control characters (C0, DEL, C1, and the bidi/format controls that can
/// reorder a terminal line) escaped as `\u{..}`, cut after `max_chars` characters with `…`.
pub(crate) struct Sanitized<'a> {
    text: &'a str,
    max_chars: usize,
}

impl<'a> Sanitized<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Self::with_limit(text, MAX_DISPLAY_CHARS)
    }

    pub(crate) fn with_limit(text: &'a str, max_chars: usize) -> Self {
        Self { text, max_chars }
    }
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

impl fmt::Display for Sanitized<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write;
        for (written, c) in self.text.chars().enumerate() {
            if written == self.max_chars {
                return f.write_char('…');
            }
            if needs_escape(c) {
                write!(f, "\\u{{{:x}}}", c as u32)?;
            } else {
                f.write_char(c)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls_and_ansi_sequences() {
        let shown = Sanitized::new("a\u{1b}[31mred\r\n\0\u{202e}").to_string();
        assert_eq!(shown, "a\\u{1b}[31mred\\u{d}\\u{a}\\u{0}\\u{202e}");
    }

    #[test]
    fn bounds_length_in_chars() {
        let long = "é".repeat(1000);
        let shown = Sanitized::with_limit(&long, 10).to_string();
        assert_eq!(shown, format!("{}…", "é".repeat(10)));
        assert_eq!(Sanitized::with_limit("short", 10).to_string(), "short");
        assert_eq!(
            Sanitized::with_limit("exactly10!", 10).to_string(),
            "exactly10!"
        );
    }
}
