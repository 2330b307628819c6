//! Options of the sockets datagate opens to backends: TCP keepalive and `TCP_USER_TIMEOUT`, so
//! that a backend host that lost power or its network is noticed in seconds (a frozen process
//! still has a kernel answering for it; the monitors notice that case).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use socket2::{SockRef, TcpKeepalive};
use tokio::net::TcpStream;

/// `[global] backend_tcp_timeout` in milliseconds (0 = kernel defaults); written at config
/// load and reload, read at every backend connect.
static BACKEND_TCP_TIMEOUT_MS: AtomicU64 = AtomicU64::new(10_000);

/// Sets the timeout applied to backend sockets opened from now on.
pub fn set_backend_tcp_timeout(d: Duration) {
    let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    BACKEND_TCP_TIMEOUT_MS.store(ms, Ordering::Relaxed);
}

/// The current backend socket timeout, `None` when off.
pub fn backend_tcp_timeout() -> Option<Duration> {
    match BACKEND_TCP_TIMEOUT_MS.load(Ordering::Relaxed) {
        0 => None,
        ms => Some(Duration::from_millis(ms)),
    }
}

/// Keepalive probes after `t` idle, every `t / 3` (at least 1 s), 3 of them; unacknowledged
/// data for `t` drops the connection.
fn keepalive(t: Duration) -> TcpKeepalive {
    let interval = (t / 3).max(Duration::from_secs(1));
    TcpKeepalive::new()
        .with_time(t)
        .with_interval(interval)
        .with_retries(3)
}

/// Applies the backend socket options to a connected backend socket (best effort: a failure
/// leaves the kernel defaults and is logged at debug level).
pub fn backend(stream: &TcpStream) {
    let _ = stream.set_nodelay(true);
    let Some(t) = backend_tcp_timeout() else {
        return;
    };
    let sock = SockRef::from(stream);
    if let Err(e) = sock
        .set_tcp_keepalive(&keepalive(t))
        .and_then(|()| sock.set_tcp_user_timeout(Some(t)))
    {
        tracing::debug!(error = %e, "cannot set backend keepalive / TCP_USER_TIMEOUT");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn options_reach_the_socket() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let s = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        backend(&s);
        let sock = SockRef::from(&s);
        assert!(sock.keepalive().unwrap());
        assert_eq!(sock.tcp_keepalive_time().unwrap(), Duration::from_secs(10));
        assert_eq!(
            sock.tcp_user_timeout().unwrap(),
            Some(Duration::from_secs(10))
        );
        assert!(s.nodelay().unwrap());
    }
}
