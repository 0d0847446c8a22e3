//! Printing text that came from the network: control characters escaped, length bounded.

use std::fmt;

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// Most characters of one network-supplied text that `Display` impls print.
pub(crate) const MAX_DISPLAY_CHARS: usize = 300;

/// Displays `text` with control characters (C0, DEL, C1, and the bidi/format controls that can
/// reorder a terminal line) escaped as `\u{..}`, cut after `max_chars` printed characters with
/// `…`. An escape counts as the characters it prints (`\u{e0041}` is nine), so text made only
/// of escaped characters prints no longer than any other.
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

    /// Returns how many characters of the text are shown (the rest is cut).
    pub(crate) fn shown_chars(&self) -> usize {
        let mut printed = 0;
        for (shown, c) in self.text.chars().enumerate() {
            printed += printed_len(c);
            if printed > self.max_chars {
                return shown;
            }
        }
        self.text.chars().count()
    }
}

/// How many characters `c` prints as: its escape's length, or one.
fn printed_len(c: char) -> usize {
    if needs_escape(c) {
        // `\u{` and `}` around the hex digits.
        let digits = (32 - (c as u32 | 1).leading_zeros()).div_ceil(4) as usize;
        digits + 4
    } else {
        1
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
        // Where the cut falls is decided in one place, `shown_chars`.
        let shown = self.shown_chars();
        let mut chars = self.text.chars();
        for c in chars.by_ref().take(shown) {
            if needs_escape(c) {
                write!(f, "\\u{{{:x}}}", c as u32)?;
            } else {
                f.write_char(c)?;
            }
        }
        if chars.next().is_some() {
            f.write_char('…')?;
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
    fn an_escape_counts_as_the_characters_it_prints() {
        for c in [
            '\u{0}',
            '\u{1b}',
            '\u{9b}',
            '\u{202e}',
            '\u{feff}',
            '\u{e0041}',
        ] {
            let escape = format!("\\u{{{:x}}}", c as u32);
            assert_eq!(printed_len(c), escape.len(), "{escape}");
            let text = c.to_string().repeat(1000);
            let shown = Sanitized::with_limit(&text, 100);
            assert_eq!(shown.shown_chars(), 100 / escape.len());
            let printed = shown.to_string();
            assert_eq!(printed, format!("{}…", escape.repeat(100 / escape.len())));
            assert!(printed.chars().count() <= 101);
        }
        assert_eq!(
            Sanitized::with_limit("ab\u{1b}", 8).to_string(),
            "ab\\u{1b}"
        );
        assert_eq!(Sanitized::with_limit("ab\u{1b}", 7).to_string(), "ab…");
        assert_eq!(Sanitized::with_limit("ab\u{1b}", 7).shown_chars(), 2);
        assert_eq!(Sanitized::with_limit("ab\u{1b}", 8).shown_chars(), 3);
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
