//! MaxScale-style routing hints in comments: `maxscale route to master|slave|last|server NAME`,
//! with `datagate` accepted in place of `maxscale`.

/// A routing hint written by the client in a comment of the statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hint<'a> {
    /// `route to master`.
    Master,
    /// `route to slave`: any reader.
    Slave,
    /// `route to last`: the backend that ran the previous statement.
    Last,
    /// `route to server NAME`: the named backend.
    Server(&'a str),
}

fn words(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    body.split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
}

/// Parses a comment body; `None` unless it is a well-formed routing hint.
pub(super) fn parse_hint(body: &[u8]) -> Option<Hint<'_>> {
    let mut w = words(body);
    let prefix = w.next()?;
    if !(prefix.eq_ignore_ascii_case(b"maxscale") || prefix.eq_ignore_ascii_case(b"datagate")) {
        return None;
    }
    if !w.next()?.eq_ignore_ascii_case(b"route") || !w.next()?.eq_ignore_ascii_case(b"to") {
        return None;
    }
    let target = w.next()?;
    let hint = if target.eq_ignore_ascii_case(b"master") {
        Hint::Master
    } else if target.eq_ignore_ascii_case(b"slave") {
        Hint::Slave
    } else if target.eq_ignore_ascii_case(b"last") {
        Hint::Last
    } else if target.eq_ignore_ascii_case(b"server") {
        Hint::Server(std::str::from_utf8(w.next()?).ok()?)
    } else {
        return None;
    };
    w.next().is_none().then_some(hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hint_bodies() {
        let cases: &[(&[u8], Option<Hint>)] = &[
            (b" maxscale route to master", Some(Hint::Master)),
            (b"maxscale route to slave ", Some(Hint::Slave)),
            (b"MaxScale Route To Last", Some(Hint::Last)),
            (b"datagate route to server db-2", Some(Hint::Server("db-2"))),
            (b"\tdatagate\nroute  to\tmaster\r", Some(Hint::Master)),
            (b"maxscale route to server", None),
            (b"maxscale route to server a b", None),
            (b"maxscale route to reader", None),
            (b"maxscale route master", None),
            (b"maxscale", None),
            (b"maxscale route to", None),
            (b"proxysql route to master", None),
            (b"", None),
            (b"maxscale myhint begin", None),
            (b"maxscale route to master please", None),
        ];
        for (body, want) in cases {
            assert_eq!(
                parse_hint(body),
                *want,
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
