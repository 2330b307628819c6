//! Text-protocol prepared statements: `PREPARE name FROM 'text'` and `EXECUTE name`, so that an
//! `EXECUTE` can be routed by the text it runs, as MaxScale does.

use super::lexer::{Tok, Tokens};

/// `PREPARE name FROM …`: the name (lower case) and the statement text when it is a literal
/// (`None` for `FROM @var`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextPrepare {
    pub name: Vec<u8>,
    pub text: Option<Vec<u8>>,
}

/// The body of a string literal with its escapes resolved (`\'`, `''`, `\\`, `\n` …).
fn unescape(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        match (body[i], body.get(i + 1)) {
            (b'\\', Some(&c)) => {
                out.push(match c {
                    b'n' => b'\n',
                    b't' => b'\t',
                    b'r' => b'\r',
                    b'0' => 0,
                    other => other,
                });
                i += 2;
            }
            (q @ (b'\'' | b'"'), Some(&n)) if n == q => {
                out.push(q);
                i += 2;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

fn name(t: &mut Tokens) -> Option<Vec<u8>> {
    t.next()
        .filter(|n| matches!(n.kind, Tok::Word | Tok::Quoted))
        .map(|n| n.text.to_ascii_lowercase())
}

/// The `PREPARE` of `sql`, if it is one.
pub fn text_prepare(sql: &[u8]) -> Option<TextPrepare> {
    let mut t = Tokens::new(sql);
    if !t.eat(b"PREPARE") {
        return None;
    }
    let name = name(&mut t)?;
    if !t.eat(b"FROM") {
        return None;
    }
    let from = t.next()?;
    let text = (from.kind == Tok::Str).then(|| unescape(from.text));
    (!t.error()).then_some(TextPrepare { name, text })
}

/// The statement name of an `EXECUTE name [USING …]`.
pub fn text_execute(sql: &[u8]) -> Option<Vec<u8>> {
    let mut t = Tokens::new(sql);
    if !t.eat(b"EXECUTE") {
        return None;
    }
    // `EXECUTE IMMEDIATE 'text'` runs text of its own: not a prepared statement.
    if t.peek().is_some_and(|n| n.is(b"IMMEDIATE")) {
        return None;
    }
    let n = name(&mut t)?;
    (!t.error()).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepare_and_execute() {
        assert_eq!(
            text_prepare(b"PREPARE S1 FROM 'SELECT * FROM t WHERE a = ?'"),
            Some(TextPrepare {
                name: b"s1".to_vec(),
                text: Some(b"SELECT * FROM t WHERE a = ?".to_vec())
            })
        );
        assert_eq!(
            text_prepare(br"prepare `s` from 'SELECT ''a'', \'b\', \\'")
                .unwrap()
                .text,
            Some(br"SELECT 'a', 'b', \".to_vec())
        );
        assert_eq!(text_prepare(b"PREPARE s FROM @q").unwrap().text, None);
        assert_eq!(text_prepare(b"PREPARE s"), None);
        assert_eq!(text_prepare(b"PREPARE s FROM 'open"), None);
        assert_eq!(text_prepare(b"SELECT 1"), None);
        assert_eq!(
            text_execute(b"EXECUTE S1 USING @a, @b"),
            Some(b"s1".to_vec())
        );
        assert_eq!(text_execute(b"execute `s`"), Some(b"s".to_vec()));
        assert_eq!(text_execute(b"EXECUTE IMMEDIATE 'SELECT 1'"), None);
        assert_eq!(text_execute(b"EXECUTE"), None);
    }
}
