//! `WWW-Authenticate` challenges, read leniently.

use http::header::WWW_AUTHENTICATE;
use http::HeaderMap;

use crate::sanitize::Sanitized;

/// One challenge from a `WWW-Authenticate` header (RFC 9110 §11.6.1), read leniently.
///
/// Partner Center's own 401 sends `OAuth realm=urn:cpsvc:cpid:...`; Entra's claims challenge
/// sends `Bearer realm="", authorization_uri="...", error="insufficient_claims",
/// claims="<base64>"`; the MFA 401 sends `Bearer error="invalid_token"`.
///
/// `Debug` is bounded: each string sanitised and cut at 64 printed characters, and at most
/// eight parameters shown (with the count of the rest), so that the eight challenges an error
/// keeps print in under 16 KiB whatever the header held.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Challenge {
    /// The auth-scheme as sent (`Bearer`, `OAuth`, ...); compare it with [`Challenge::is_scheme`].
    pub scheme: String,
    /// The token68 form of the credentials, e.g. `YII=` in `Negotiate YII=`.
    pub token68: Option<String>,
    /// The auth-params in order sent: names lower-cased, values unquoted and unescaped.
    pub params: Vec<(String, String)>,
}

impl Challenge {
    /// Reads every challenge in one header value, leniently.
    ///
    /// Text that cannot be read is skipped; garbage gives an empty or partial list, never a
    /// panic. After a comma, a token followed by whitespace and then anything but `=` (or by a
    /// comma, or by the end) starts a new challenge.
    ///
    /// Bounded: at most [`MAX_CHALLENGES`](Self::MAX_CHALLENGES) challenges of at most
    /// [`MAX_PARAMS`](Self::MAX_PARAMS) parameters each are kept, read from at most the first
    /// [`MAX_BYTES`](Self::MAX_BYTES) bytes of `value`; the rest is ignored.
    pub fn parse_all(value: &str) -> Vec<Challenge> {
        let mut end = value.len().min(Self::MAX_BYTES);
        while !value.is_char_boundary(end) {
            end -= 1;
        }
        let mut cursor = Cursor::new(value.get(..end).unwrap_or_default());
        let mut challenges = Vec::new();
        while challenges.len() < Self::MAX_CHALLENGES {
            cursor.skip_while(|b| b.is_ascii_whitespace() || b == b',');
            match cursor.peek() {
                None => break,
                // Not a scheme: skip it so the loop always consumes input.
                Some(b'"') => {
                    cursor.quoted_string();
                }
                Some(b'=') => cursor.advance(1),
                Some(_) => {
                    let scheme = cursor.token().to_owned();
                    challenges.push(cursor.challenge_rest(scheme));
                }
            }
        }
        challenges
    }

    /// Reads every `WWW-Authenticate` line of `headers`, in order.
    ///
    /// Lines are decoded lossily, so a stray non-UTF-8 byte costs a character, not the line.
    /// The bounds of [`parse_all`](Self::parse_all) hold for all lines together: the lines'
    /// first [`MAX_BYTES`](Self::MAX_BYTES) bytes in all are read, and at most
    /// [`MAX_CHALLENGES`](Self::MAX_CHALLENGES) challenges kept.
    pub fn from_headers(headers: &HeaderMap) -> Vec<Challenge> {
        let mut budget = Self::MAX_BYTES;
        let mut challenges = Vec::new();
        for line in headers.get_all(WWW_AUTHENTICATE) {
            let bytes = line.as_bytes();
            let bytes = bytes.get(..budget).unwrap_or(bytes);
            budget -= bytes.len();
            challenges.extend(Challenge::parse_all(&String::from_utf8_lossy(bytes)));
            if budget == 0 || challenges.len() >= Self::MAX_CHALLENGES {
                break;
            }
        }
        challenges.truncate(Self::MAX_CHALLENGES);
        challenges
    }

    /// Most challenges kept from one response: a real Partner Center or Entra response sends
    /// one or two.
    pub const MAX_CHALLENGES: usize = 8;

    /// Most parameters kept per challenge: Entra's claims challenge sends five.
    pub const MAX_PARAMS: usize = 16;

    /// Most bytes of `WWW-Authenticate` read per response: an Entra claims challenge, the
    /// longest real one, is well under 4 KiB.
    pub const MAX_BYTES: usize = 16 * 1024;

    /// Returns the value of the first parameter called `name` (case-insensitive).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Returns the `realm` parameter.
    pub fn realm(&self) -> Option<&str> {
        self.param("realm")
    }

    /// Returns the `error` parameter (e.g. `invalid_token`, `insufficient_claims`).
    pub fn error(&self) -> Option<&str> {
        self.param("error")
    }

    /// Returns the `error_description` parameter.
    pub fn error_description(&self) -> Option<&str> {
        self.param("error_description")
    }

    /// Returns the `claims` parameter of a claims challenge, as sent (base64-encoded JSON).
    pub fn claims(&self) -> Option<&str> {
        self.param("claims")
    }

    /// Returns `true` when this challenge's scheme is `scheme` (case-insensitive).
    pub fn is_scheme(&self, scheme: &str) -> bool {
        self.scheme.eq_ignore_ascii_case(scheme)
    }
}

impl std::fmt::Debug for Challenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Each string is quoted once, by this `Debug` of its sanitised text; the pieces are
        // then written as they are, not through `Debug` again (which would quote the quotes).
        const SHOWN_CHARS: usize = 64;
        const SHOWN_PARAMS: usize = 8;
        let short =
            |text: &str| format!("{:?}", Sanitized::with_limit(text, SHOWN_CHARS).to_string());
        let mut params: Vec<_> = self
            .params
            .iter()
            .take(SHOWN_PARAMS)
            .map(|(name, value)| format!("{}={}", short(name), short(value)))
            .collect();
        let more = self.params.len().saturating_sub(SHOWN_PARAMS);
        if more > 0 {
            params.push(format!("... {more} more"));
        }
        let token68 = self.token68.as_deref().map(short);
        f.debug_struct("Challenge")
            .field("scheme", &AsWritten(&short(&self.scheme)))
            .field("token68", &token68.as_deref().map(AsWritten))
            .field(
                "params",
                &params.iter().map(|p| AsWritten(p)).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Text written as it is by `Debug`: for pieces already quoted.
struct AsWritten<'a>(&'a str);

impl std::fmt::Debug for AsWritten<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// A position in a header value. Every delimiter it stops at is ASCII, so every position it
/// holds is a character boundary; slicing still goes through `get` so it can never panic.
struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str) -> Self {
        Self { text, pos: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn advance(&mut self, n: usize) {
        self.pos = self.pos.saturating_add(n).min(self.text.len());
    }

    fn slice(&self, start: usize, end: usize) -> &'a str {
        self.text.get(start..end).unwrap_or("")
    }

    /// Consumes bytes while `keep` holds; returns them.
    fn skip_while(&mut self, keep: impl Fn(u8) -> bool) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(&keep) {
            self.pos += 1;
        }
        self.slice(start, self.pos)
    }

    /// A scheme, parameter name or token68 body: anything up to whitespace, `,`, `=` or `"`.
    fn token(&mut self) -> &'a str {
        self.skip_while(|b| !(b.is_ascii_whitespace() || matches!(b, b',' | b'=' | b'"')))
    }

    /// A quoted-string starting at `"`, unescaped; an unterminated one runs to the end.
    fn quoted_string(&mut self) -> String {
        self.advance(1); // the opening quote
        let rest = self.slice(self.pos, self.text.len());
        let mut out = String::new();
        let mut consumed = rest.len();
        let mut chars = rest.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    consumed = i + 1;
                    break;
                }
                // A backslash at the very end escapes nothing: keep it.
                '\\' => out.push(chars.next().map_or('\\', |(_, escaped)| escaped)),
                c => out.push(c),
            }
        }
        self.advance(consumed);
        // Kept as long as the error: no spare capacity from growing it a char at a time.
        out.shrink_to_fit();
        out
    }

    /// An unquoted parameter value: anything up to `,` (colons, `=` included), its surrounding
    /// whitespace left out. Whitespace inside it is kept (the contract prints Partner Center's
    /// realm as `urn:cpsvc:cpid:{some cid}`), except before a parameter sent without a comma
    /// (`realm=x error=y`), which ends the value.
    fn unquoted_value(&mut self) -> &'a str {
        let start = self.pos;
        loop {
            self.skip_while(|b| !(b.is_ascii_whitespace() || b == b','));
            let end = self.pos;
            self.skip_while(|b| b.is_ascii_whitespace());
            let next = self.pos;
            // What follows the whitespace: more of the value, unless it is a `name=`.
            let more = match self.peek() {
                None | Some(b',') => false,
                Some(_) => {
                    let named = !self.token().is_empty() && {
                        self.skip_while(|b| b.is_ascii_whitespace());
                        self.peek() == Some(b'=')
                    };
                    !named
                }
            };
            self.pos = next;
            if !more {
                self.pos = end;
                return self.slice(start, end);
            }
        }
    }

    /// The token68 or auth-params after `scheme`, up to the start of the next challenge.
    fn challenge_rest(&mut self, scheme: String) -> Challenge {
        let mut challenge = Challenge {
            scheme,
            token68: None,
            params: Vec::new(),
        };
        // token68 may only come straight after the scheme, before any comma or parameter.
        let mut token68_allowed = true;
        loop {
            self.skip_while(|b| b.is_ascii_whitespace());
            match self.peek() {
                None => break,
                Some(b',') => {
                    self.advance(1);
                    token68_allowed = false;
                }
                // Stray text where a name belongs: skip it so the loop always consumes input.
                Some(b'=') => self.advance(1),
                Some(b'"') => {
                    self.quoted_string();
                }
                Some(_) => {
                    let start = self.pos;
                    let name = self.token();
                    let after_name = self.pos;
                    if token68_allowed {
                        token68_allowed = false;
                        // `token68` is the token, its `=` padding, then the challenge's end.
                        self.skip_while(|b| b == b'=');
                        let end = self.pos;
                        self.skip_while(|b| b.is_ascii_whitespace());
                        if matches!(self.peek(), None | Some(b',')) {
                            challenge.token68 = Some(self.slice(start, end).to_owned());
                            continue;
                        }
                        self.pos = after_name;
                    }
                    self.skip_while(|b| b.is_ascii_whitespace());
                    if self.peek() != Some(b'=') {
                        // A token not followed by `=` is the next challenge's scheme.
                        self.pos = start;
                        break;
                    }
                    self.advance(1);
                    self.skip_while(|b| b.is_ascii_whitespace());
                    let value = if self.peek() == Some(b'"') {
                        self.quoted_string()
                    } else {
                        self.unquoted_value().to_owned()
                    };
                    if challenge.params.len() < Challenge::MAX_PARAMS {
                        challenge.params.push((name.to_ascii_lowercase(), value));
                    }
                }
            }
        }
        challenge
    }
}
