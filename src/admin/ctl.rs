//! `datagate ctl`: a small HTTP/1.1 client for the admin API.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// An admin API answer: HTTP status and body.
pub struct Reply {
    pub status: u16,
    pub body: String,
}

/// Sends one request to the admin API at `base` (`http://host:port`).
pub async fn request(
    base: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Result<Reply, String> {
    let hostport = base
        .strip_prefix("http://")
        .ok_or_else(|| format!("admin URL {base:?} must start with http://"))?
        .trim_end_matches('/');
    let mut s = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(hostport))
        .await
        .map_err(|_| format!("connecting to {hostport}: timed out"))?
        .map_err(|e| format!("connecting to {hostport}: {e}"))?;
    let body = body.unwrap_or("");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    if !body.is_empty() {
        req.push_str("Content-Type: application/json\r\n");
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut raw))
        .await
        .map_err(|_| "admin API did not answer in 30s".to_string())?
        .map_err(|e| e.to_string())?;
    parse_reply(&raw).ok_or_else(|| "malformed HTTP reply from the admin API".to_string())
}

fn parse_reply(raw: &[u8]) -> Option<Reply> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some(Reply {
        status,
        body: body.to_string(),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_reply() {
        let r = super::parse_reply(b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 2\r\n\r\n{}")
            .unwrap();
        assert_eq!(r.status, 401);
        assert_eq!(r.body, "{}");
        assert!(super::parse_reply(b"garbage").is_none());
    }
}
