//! Health checks of `[[tcp]]` servers: one async function per `check` kind.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::config::Check;

/// Why a check failed, as shown in `last_error`.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("connect: {0}")]
    Connect(std::io::Error),
    #[error("timed out")]
    Timeout,
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Unhealthy(String),
}

/// Credentials for `mysql`/`galera` checks.
#[derive(Debug, Clone, Default)]
pub struct CheckAuth {
    pub user: Option<String>,
    pub password: Option<String>,
}

/// Runs one check of `addr` within `timeout`.
pub async fn run(
    check: &Check,
    addr: &str,
    auth: &CheckAuth,
    timeout: Duration,
) -> Result<(), CheckError> {
    match tokio::time::timeout(timeout, run_inner(check, addr, auth, timeout)).await {
        Ok(r) => r,
        Err(_) => Err(CheckError::Timeout),
    }
}

async fn run_inner(
    check: &Check,
    addr: &str,
    auth: &CheckAuth,
    timeout: Duration,
) -> Result<(), CheckError> {
    match check {
        Check::None => Ok(()),
        Check::Tcp => connect(addr).await.map(drop),
        Check::Http(path) => http(addr, path).await,
        Check::RedisMaster => redis_master(addr).await,
        Check::Mysql => {
            let creds = auth
                .user
                .as_deref()
                .map(|u| (u, auth.password.as_deref().unwrap_or("")));
            crate::health::galera::check_mysql(addr, creds, timeout)
                .await
                .map_err(|e| CheckError::Unhealthy(e.to_string()))
        }
        Check::Galera => {
            let user = auth.user.as_deref().unwrap_or("");
            let pass = auth.password.as_deref().unwrap_or("");
            crate::health::galera::check_galera_node(addr, user, pass, timeout)
                .await
                .map_err(|e| CheckError::Unhealthy(e.to_string()))?
                .may_serve(false)
                .map_err(CheckError::Unhealthy)
        }
    }
}

async fn connect(addr: &str) -> Result<TcpStream, CheckError> {
    TcpStream::connect(addr).await.map_err(CheckError::Connect)
}

/// `GET path` over HTTP/1.0; 2xx and 3xx are healthy (HAProxy `option httpchk`).
async fn http(addr: &str, path: &str) -> Result<(), CheckError> {
    let mut s = connect(addr).await?;
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    s.write_all(
        format!("GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: datagate-check\r\n\r\n")
            .as_bytes(),
    )
    .await?;
    let mut buf = [0u8; 64];
    let mut n = 0;
    while n < 12 {
        let k = s.read(&mut buf[n..]).await?;
        if k == 0 {
            break;
        }
        n += k;
    }
    let status = parse_http_status(&buf[..n])
        .ok_or_else(|| CheckError::Unhealthy("not an HTTP response".into()))?;
    if (200..400).contains(&status) {
        Ok(())
    } else {
        Err(CheckError::Unhealthy(format!("HTTP status {status}")))
    }
}

fn parse_http_status(b: &[u8]) -> Option<u16> {
    let s = std::str::from_utf8(b.get(..12)?).ok()?;
    if !s.starts_with("HTTP/1.") {
        return None;
    }
    s.get(9..12)?.parse().ok()
}

/// `ROLE` must answer `master` (HAProxy's `tcp-check expect string role:master`).
async fn redis_master(addr: &str) -> Result<(), CheckError> {
    let mut s = connect(addr).await?;
    s.write_all(b"*1\r\n$4\r\nROLE\r\n").await?;
    let mut buf = [0u8; 128];
    let mut n = 0;
    loop {
        let k = s.read(&mut buf[n..]).await?;
        if k == 0 || n + k >= 20 || buf[..n + k].starts_with(b"-") {
            n += k;
            break;
        }
        n += k;
    }
    let _ = s.write_all(b"*1\r\n$4\r\nQUIT\r\n").await;
    redis_role_is_master(&buf[..n])
}

fn redis_role_is_master(reply: &[u8]) -> Result<(), CheckError> {
    // *3\r\n$6\r\nmaster\r\n... ; an error reply (e.g. NOAUTH) is unhealthy with its text.
    if reply.starts_with(b"-") {
        let line = reply.split(|b| *b == b'\r').next().unwrap_or_default();
        return Err(CheckError::Unhealthy(
            String::from_utf8_lossy(&line[1..]).into_owned(),
        ));
    }
    let mut lines = reply
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    match (lines.next(), lines.next(), lines.next()) {
        (Some(a), Some(_), Some(b"master")) if a.starts_with(b"*") => Ok(()),
        (Some(a), Some(_), Some(role)) if a.starts_with(b"*") => Err(CheckError::Unhealthy(
            format!("role is {}", String::from_utf8_lossy(role)),
        )),
        _ => Err(CheckError::Unhealthy("unexpected reply to ROLE".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_status_line() {
        assert_eq!(parse_http_status(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(parse_http_status(b"HTTP/1.0 503 Service"), Some(503));
        assert_eq!(parse_http_status(b"SSH-2.0-OpenSSH"), None);
        assert_eq!(parse_http_status(b"HTTP/1.1"), None);
    }

    #[test]
    fn redis_role_replies() {
        assert!(redis_role_is_master(b"*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n").is_ok());
        let e = redis_role_is_master(b"*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n").unwrap_err();
        assert_eq!(e.to_string(), "role is slave");
        let e = redis_role_is_master(b"-NOAUTH Authentication required.\r\n").unwrap_err();
        assert_eq!(e.to_string(), "NOAUTH Authentication required.");
        assert!(redis_role_is_master(b"").is_err());
    }
}
