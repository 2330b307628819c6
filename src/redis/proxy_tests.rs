//! The listener against fake sentinels and nodes: relay, close on switch, hold then refuse.

use super::*;
use crate::redis::sentinel::tests::{Answer, Fake, config, role_master};
use std::sync::atomic::AtomicUsize;
use tokio::io::AsyncWriteExt;

async fn start(cfg: Redis, name: &str) -> (std::net::SocketAddr, CancellationToken) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let ctx = ListenerCtx {
        name: name.into(),
        max_connections: 100,
        accept_stop: CancellationToken::new(),
        shutdown: CancellationToken::new(),
        tracker: TaskTracker::new(),
        active: Arc::new(AtomicUsize::new(0)),
    };
    let stop = ctx.accept_stop.clone();
    let status = Arc::new(ArcSwap::from_pointee(RedisStatus::default()));
    tokio::spawn(serve(Arc::new(cfg), Arc::new(listener), ctx, status));
    (addr, stop)
}

/// Sends PING and returns the first reply bytes (or "" when the proxy closed).
async fn ping(c: &mut TcpStream) -> String {
    if c.write_all(b"*1\r\n$4\r\nPING\r\n").await.is_err() {
        return String::new();
    }
    let mut buf = [0u8; 512];
    match tokio::time::timeout(Duration::from_secs(5), c.read(&mut buf)).await {
        Ok(Ok(n)) => String::from_utf8_lossy(&buf[..n]).into_owned(),
        _ => String::new(),
    }
}

#[tokio::test]
async fn relays_to_master_and_closes_sessions_on_switch() {
    let b = Fake::start(Answer::Role("slave", vec![])).await;
    let a = Fake::start(role_master(&[&b])).await;
    let s: Vec<Fake> = vec![
        Fake::start(Answer::Master(a.addr.clone())).await,
        Fake::start(Answer::Master(a.addr.clone())).await,
        Fake::start(Answer::Master(a.addr.clone())).await,
    ];
    let (addr, stop) = start(config(&s.iter().collect::<Vec<_>>()), "proxy_switch").await;
    let mut c = TcpStream::connect(addr).await.unwrap();
    // The fake node answers any non-ROLE command with an error: proof that bytes reached it.
    assert_eq!(ping(&mut c).await, "-ERR unexpected\r\n");
    b.set(role_master(&[&a]));
    a.set(Answer::Role("slave", vec![]));
    for x in &s {
        x.set(Answer::Master(b.addr.clone()));
    }
    let mut buf = [0u8; 16];
    let closed = tokio::time::timeout(Duration::from_secs(5), c.read(&mut buf)).await;
    assert!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "session not closed: {closed:?}"
    );
    let mut c2 = TcpStream::connect(addr).await.unwrap();
    assert_eq!(ping(&mut c2).await, "-ERR unexpected\r\n");
    stop.cancel();
}

#[tokio::test]
async fn holds_then_refuses_without_master() {
    let s: Vec<Fake> = vec![
        Fake::start(Answer::Error).await,
        Fake::start(Answer::Error).await,
        Fake::start(Answer::Error).await,
    ];
    let mut cfg = config(&s.iter().collect::<Vec<_>>());
    cfg.connect_timeout = crate::config::Dur::millis(300);
    let (addr, stop) = start(cfg, "proxy_refuse").await;
    let mut c = TcpStream::connect(addr).await.unwrap();
    let t0 = std::time::Instant::now();
    let reply = ping(&mut c).await;
    assert!(
        t0.elapsed() >= Duration::from_millis(280),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(reply, no_master_error("dn", Duration::from_millis(300)));
    let mut rest = Vec::new();
    assert_eq!(c.read_to_end(&mut rest).await.unwrap(), 0, "graceful close");
    stop.cancel();
}

#[tokio::test]
async fn held_client_goes_through_when_a_master_appears() {
    let a = Fake::start(role_master(&[])).await;
    let s: Vec<Fake> = vec![
        Fake::start(Answer::Error).await,
        Fake::start(Answer::Error).await,
        Fake::start(Answer::Error).await,
    ];
    let (addr, stop) = start(config(&s.iter().collect::<Vec<_>>()), "proxy_hold").await;
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(b"*1\r\n$4\r\nPING\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    for x in &s {
        x.set(Answer::Master(a.addr.clone()));
    }
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(3), c.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..n], b"-ERR unexpected\r\n");
    stop.cancel();
}

#[test]
fn error_is_one_resp_error_line() {
    let e = no_master_error("dn", Duration::from_secs(3));
    assert!(e.starts_with("-ERR datagate: "));
    assert!(e.ends_with("\r\n"));
    assert_eq!(e.matches("\r\n").count(), 1);
    assert!(e.contains("'dn'"));
}
