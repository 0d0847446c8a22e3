//! Printing text that came from the network: control characters escaped, length bounded.

use std::fmt;

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

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

/// Control characters (Cc), format characters (Cf: bidi controls, zero-width characters, the
/// BOM, soft hyphen, tags, ...; the table comes from the `unicode-properties` crate rather than
/// a hand-kept list), and the line and paragraph separators.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || c.general_category() == GeneralCategory::Format
        || matches!(c, '\u{2028}' | '\u{2029}')
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
    fn escapes_every_format_character() {
        // The audit's list: Arabic letter mark, BOM, word joiner and invisible operators, soft
        // hyphen, Mongolian vowel separator, interlinear annotations, tags.
        let format = [
            '\u{061c}',
            '\u{feff}',
            '\u{2060}',
            '\u{2061}',
            '\u{2062}',
            '\u{2063}',
            '\u{2064}',
            '\u{00ad}',
            '\u{180e}',
            '\u{fff9}',
            '\u{fffa}',
            '\u{fffb}',
            '\u{e0001}',
            '\u{e0041}',
            '\u{e007f}',
            '\u{200b}',
            '\u{200e}',
            '\u{202a}',
            '\u{2066}',
            '\u{2069}',
        ];
        for c in format {
            let shown = Sanitized::new(&format!("a{c}b")).to_string();
            assert_eq!(shown, format!("a\\u{{{:x}}}b", c as u32));
        }
        // Letters, marks and symbols stay as they are.
        let plain = "é日本😀e\u{301}";
        assert_eq!(Sanitized::new(plain).to_string(), plain);
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
