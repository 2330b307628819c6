//! Byte-level SQL tokenizer: just enough of MySQL/MariaDB lexical rules to find keywords
//! outside strings and comments without building a syntax tree.

use super::hint::{Hint, parse_hint};

/// What a token is; its text is in [`Token::text`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Tok {
    /// Unquoted identifier or keyword (also numbers and `_charset` prefixes).
    Word,
    /// Backtick-quoted identifier; text is between the backticks.
    Quoted,
    /// Single- or double-quoted string; text is between the quotes, escapes left as is.
    Str,
    /// `@name`, `@'name'`; text is the name.
    UserVar,
    /// `@@name`, `@@session.name`; text is everything after `@@`.
    SysVar,
    /// The `:=` assignment operator.
    Assign,
    /// Any other single byte of punctuation or operator.
    Punct(u8),
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Token<'a> {
    pub kind: Tok,
    pub text: &'a [u8],
}

impl Token<'_> {
    /// Whether this is the unquoted keyword `kw` (given in upper case).
    pub fn is(&self, kw: &[u8]) -> bool {
        self.kind == Tok::Word && self.text.eq_ignore_ascii_case(kw)
    }

    pub fn is_punct(&self, p: u8) -> bool {
        self.kind == Tok::Punct(p)
    }

    /// Upper-cases a word into `buf`; `None` if it is not a word or is too long to be a keyword.
    pub fn upper<'b>(&self, buf: &'b mut [u8; 32]) -> Option<&'b [u8]> {
        if self.kind != Tok::Word || self.text.len() > buf.len() {
            return None;
        }
        let out = &mut buf[..self.text.len()];
        out.copy_from_slice(self.text);
        out.make_ascii_uppercase();
        Some(out)
    }
}

/// Splits SQL into tokens, skipping comments and remembering the first routing hint.
///
/// Executable comments (`/*! */`, `/*!50100 */`, `/*M! */`) are transparent: their body is
/// lexed as SQL. An unterminated string, identifier or comment sets `error`.
#[derive(Clone)]
pub(super) struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    in_exec_comment: bool,
    pub hint: Option<Hint<'a>>,
    pub error: bool,
}

/// Bytes that may appear in an unquoted identifier, keyword or number.
static WORD_BYTE: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80;
        b += 1;
    }
    t
};

fn is_word_byte(b: u8) -> bool {
    WORD_BYTE[b as usize]
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

impl<'a> Lexer<'a> {
    pub fn new(src: &'a [u8]) -> Self {
        Lexer {
            src,
            pos: 0,
            in_exec_comment: false,
            hint: None,
            error: false,
        }
    }

    fn at(&self, i: usize) -> u8 {
        self.src.get(i).copied().unwrap_or(0)
    }

    fn note_comment(&mut self, body: &'a [u8]) {
        if self.hint.is_none() {
            self.hint = parse_hint(body);
        }
    }

    fn skip_line_comment(&mut self, start: usize) {
        let end = self.src[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(self.src.len(), |n| start + n);
        self.note_comment(&self.src[start..end]);
        self.pos = end;
    }

    /// Skips whitespace and comments; `false` on an unterminated comment.
    fn skip_trivia(&mut self) -> bool {
        loop {
            let b = self.at(self.pos);
            if is_space(b) {
                self.pos += 1;
            } else if b == b'#' {
                self.skip_line_comment(self.pos + 1);
            } else if b == b'-' && self.at(self.pos + 1) == b'-' {
                let c = self.at(self.pos + 2);
                if !(c <= b' ' || self.pos + 2 >= self.src.len()) {
                    return true;
                }
                self.skip_line_comment(self.pos + 2);
            } else if b == b'/' && self.at(self.pos + 1) == b'*' {
                let mut body = self.pos + 2;
                let exec = if self.at(body) == b'!' {
                    Some(body + 1)
                } else if self.at(body) == b'M' && self.at(body + 1) == b'!' {
                    Some(body + 2)
                } else {
                    None
                };
                if let Some(mut p) = exec {
                    if self.in_exec_comment {
                        self.error = true;
                        return false;
                    }
                    let digits_end = (p + 6).min(self.src.len());
                    while p < digits_end && self.src[p].is_ascii_digit() {
                        p += 1;
                    }
                    self.pos = p;
                    self.in_exec_comment = true;
                    continue;
                }
                let Some(n) = self.src[body..].windows(2).position(|w| w == b"*/") else {
                    self.error = true;
                    return false;
                };
                let end = body + n;
                if self.at(body) == b'+' {
                    body += 1;
                }
                self.note_comment(&self.src[body..end]);
                self.pos = end + 2;
            } else if self.in_exec_comment && b == b'*' && self.at(self.pos + 1) == b'/' {
                self.in_exec_comment = false;
                self.pos += 2;
            } else {
                return true;
            }
        }
    }

    /// Reads a quoted run starting after the opening `q`; doubled quotes and (except in
    /// backticks) backslashes escape. Returns the body, or `None` if unterminated.
    fn quoted(&mut self, q: u8) -> Option<&'a [u8]> {
        let start = self.pos;
        let mut i = start;
        let src = self.src;
        while i < src.len() {
            let b = src[i];
            if b == b'\\' && q != b'`' {
                i += 2;
            } else if b == q {
                if src.get(i + 1) == Some(&q) {
                    i += 2;
                } else {
                    self.pos = i + 1;
                    return Some(&src[start..i]);
                }
            } else {
                i += 1;
            }
        }
        self.error = true;
        self.pos = src.len();
        None
    }

    fn word_end(&self, from: usize) -> usize {
        self.src[from..]
            .iter()
            .position(|&b| !is_word_byte(b))
            .map_or(self.src.len(), |n| from + n)
    }

    /// The next token, or `None` at the end of input or on a lexical error.
    pub fn next_token(&mut self) -> Option<Token<'a>> {
        if self.error || !self.skip_trivia() {
            return None;
        }
        let start = self.pos;
        let b = self.at(start);
        if start >= self.src.len() {
            if self.in_exec_comment {
                self.error = true;
            }
            return None;
        }
        let tok = |kind, text| Some(Token { kind, text });
        match b {
            b'\'' | b'"' => {
                self.pos += 1;
                let body = self.quoted(b)?;
                tok(Tok::Str, body)
            }
            b'`' => {
                self.pos += 1;
                let body = self.quoted(b'`')?;
                tok(Tok::Quoted, body)
            }
            b'@' if self.at(start + 1) == b'@' => {
                let mut end = start + 2;
                loop {
                    end = self.word_end(end);
                    if self.at(end) == b'.' && is_word_byte(self.at(end + 1)) {
                        end += 1;
                    } else {
                        break;
                    }
                }
                self.pos = end;
                tok(Tok::SysVar, &self.src[start + 2..end])
            }
            b'@' => {
                let q = self.at(start + 1);
                if matches!(q, b'\'' | b'"' | b'`') {
                    self.pos = start + 2;
                    let body = self.quoted(q)?;
                    tok(Tok::UserVar, body)
                } else {
                    self.pos = self.word_end(start + 1);
                    tok(Tok::UserVar, &self.src[start + 1..self.pos])
                }
            }
            b':' if self.at(start + 1) == b'=' => {
                self.pos += 2;
                tok(Tok::Assign, &self.src[start..start + 2])
            }
            _ if is_word_byte(b) => {
                self.pos = self.word_end(start);
                tok(Tok::Word, &self.src[start..self.pos])
            }
            _ => {
                self.pos += 1;
                tok(Tok::Punct(b), &self.src[start..start + 1])
            }
        }
    }
}

/// A lexer with one token of lookahead.
pub(super) struct Tokens<'a> {
    lex: Lexer<'a>,
    peeked: Option<Option<Token<'a>>>,
}

impl<'a> Tokens<'a> {
    pub fn new(src: &'a [u8]) -> Self {
        Tokens {
            lex: Lexer::new(src),
            peeked: None,
        }
    }

    pub fn next(&mut self) -> Option<Token<'a>> {
        match self.peeked.take() {
            Some(t) => t,
            None => self.lex.next_token(),
        }
    }

    pub fn peek(&mut self) -> Option<Token<'a>> {
        if self.peeked.is_none() {
            self.peeked = Some(self.lex.next_token());
        }
        self.peeked.flatten()
    }

    /// Consumes the next token if it is the keyword `kw`.
    pub fn eat(&mut self, kw: &[u8]) -> bool {
        if self.peek().is_some_and(|t| t.is(kw)) {
            self.next();
            true
        } else {
            false
        }
    }

    /// Consumes the next token if it is the punctuation `p`.
    pub fn eat_punct(&mut self, p: u8) -> bool {
        if self.peek().is_some_and(|t| t.is_punct(p)) {
            self.next();
            true
        } else {
            false
        }
    }

    pub fn error(&self) -> bool {
        self.lex.error
    }

    pub fn hint(&self) -> Option<Hint<'a>> {
        self.lex.hint
    }
}
