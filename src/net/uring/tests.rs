use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

use crate::net::tcp_pair as pair;

/// The ring the tests share; `None` where the kernel refuses `io_uring` (disabled by sysctl, or
/// a container's seccomp profile): the daemon relays with epoll there (`relay_engine = "auto"`),
/// so these tests say that they did not run instead of failing.
pub(super) fn engine() -> Option<&'static Engine> {
    static E: OnceLock<Option<Engine>> = OnceLock::new();
    let e = E.get_or_init(|| match Engine::start() {
        Ok(e) => Some(e),
        Err(e) if refused(&e) => None,
        Err(e) => panic!("io_uring: {e}"),
    });
    if e.is_none() {
        eprintln!("io_uring is refused by this kernel: the ring tests did not run");
    }
    e.as_ref()
}

/// The kernel has no `io_uring` for this process (as opposed to a failure of the ring).
fn refused(e: &std::io::Error) -> bool {
    use nix::errno::Errno;
    [Errno::EPERM, Errno::ENOSYS, Errno::EACCES]
        .iter()
        .any(|&n| e.raw_os_error() == Some(n as i32))
}

#[tokio::test]
async fn relays_both_ways_half_closes_and_counts() {
    let Some(engine) = engine() else { return };
    let (mut client, pc) = pair().await;
    let (ps, mut server) = pair().await;
    let counters = ByteCounters::new("uring_test");
    let task = tokio::spawn(async move { engine.relay(pc, ps, &counters, Idle::default()).await });
    let big = vec![7u8; 3 * crate::net::relay::BUF_SIZE + 5];
    client.write_all(&big).await.unwrap();
    client.shutdown().await.unwrap();
    let mut got = Vec::new();
    server.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, big);
    // The other direction stays open after the client's FIN.
    server.write_all(b"reply").await.unwrap();
    server.shutdown().await.unwrap();
    let mut back = Vec::new();
    client.read_to_end(&mut back).await.unwrap();
    assert_eq!(back, b"reply");
    let r = task.await.unwrap().unwrap();
    assert_eq!(r.client_to_server, big.len() as u64);
    assert_eq!(r.server_to_client, 5);
    let c = ByteCounters::new("uring_test");
    assert_eq!(c.inbound.get(), big.len() as u64);
    assert_eq!(c.outbound.get(), 5);
}

#[tokio::test]
async fn many_sessions_of_small_round_trips() {
    let Some(engine) = engine() else { return };
    let mut tasks = Vec::new();
    for s in 0..20u32 {
        tasks.push(tokio::spawn(async move {
            let (mut client, pc) = pair().await;
            let (ps, mut server) = pair().await;
            let counters = ByteCounters::new("uring_test_rt");
            let relay =
                tokio::spawn(async move { engine.relay(pc, ps, &counters, Idle::default()).await });
            let mut buf = [0u8; 4];
            for i in 0..100u32 {
                let v = s * 1000 + i;
                client.write_all(&v.to_be_bytes()).await.unwrap();
                server.read_exact(&mut buf).await.unwrap();
                assert_eq!(u32::from_be_bytes(buf), v);
                server.write_all(&buf).await.unwrap();
                client.read_exact(&mut buf).await.unwrap();
                assert_eq!(u32::from_be_bytes(buf), v);
            }
            drop(client);
            drop(server);
            relay.await.unwrap().unwrap()
        }));
    }
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.client_to_server, 400);
        assert_eq!(r.server_to_client, 400);
    }
}

#[tokio::test]
async fn silent_client_times_out_and_both_sides_are_closed() {
    let Some(engine) = engine() else { return };
    let (mut client, pc) = pair().await;
    let (ps, mut server) = pair().await;
    let counters = ByteCounters::new("uring_test_idle");
    let idle = Idle {
        client: Some(Duration::from_millis(300)),
        server: None,
    };
    let started = std::time::Instant::now();
    let r = engine.relay(pc, ps, &counters, idle).await;
    assert_eq!(r.unwrap_err().kind(), io::ErrorKind::TimedOut);
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(300), "{waited:?}");
    assert!(waited < Duration::from_secs(2), "{waited:?}");
    let mut buf = [0u8; 1];
    assert_eq!(client.read(&mut buf).await.unwrap(), 0);
    assert_eq!(server.read(&mut buf).await.unwrap(), 0);
}

#[tokio::test]
async fn traffic_keeps_an_idle_timeout_away() {
    let Some(engine) = engine() else { return };
    let (mut client, pc) = pair().await;
    let (ps, mut server) = pair().await;
    let counters = ByteCounters::new("uring_test_busy");
    let idle = Idle {
        client: Some(Duration::from_millis(400)),
        server: Some(Duration::from_millis(400)),
    };
    let relay = tokio::spawn(async move { engine.relay(pc, ps, &counters, idle).await });
    let mut buf = [0u8; 2];
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        client.write_all(b"hi").await.unwrap();
        server.read_exact(&mut buf).await.unwrap();
        server.write_all(b"ok").await.unwrap();
        client.read_exact(&mut buf).await.unwrap();
    }
    assert!(
        !relay.is_finished(),
        "1.2 s of traffic every 150 ms must not time out"
    );
    drop(client);
    drop(server);
    relay.await.unwrap().unwrap();
}

#[tokio::test]
async fn dropping_the_relay_closes_both_sockets() {
    let Some(engine) = engine() else { return };
    let (mut client, pc) = pair().await;
    let (ps, mut server) = pair().await;
    let counters = ByteCounters::new("uring_test_cancel");
    let r = tokio::time::timeout(
        Duration::from_millis(100),
        engine.relay(pc, ps, &counters, Idle::default()),
    )
    .await;
    assert!(r.is_err(), "the relay of silent sockets must still run");
    let mut buf = [0u8; 1];
    let closed = tokio::time::timeout(Duration::from_secs(2), async {
        (
            client.read(&mut buf).await.unwrap(),
            server.read(&mut buf).await.unwrap(),
        )
    })
    .await
    .expect("both sockets closed after the drop");
    assert_eq!(closed, (0, 0));
}

#[tokio::test]
async fn a_reset_backend_ends_the_session_with_an_error() {
    let Some(engine) = engine() else { return };
    let (mut client, pc) = pair().await;
    let (ps, server) = pair().await;
    let counters = ByteCounters::new("uring_test_reset");
    let relay = tokio::spawn(async move { engine.relay(pc, ps, &counters, Idle::default()).await });
    // SO_LINGER 0: close sends RST.
    socket2::SockRef::from(&server)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(server);
    let r = relay.await.unwrap();
    assert_eq!(r.unwrap_err().kind(), io::ErrorKind::ConnectionReset);
    let mut buf = [0u8; 1];
    assert_eq!(client.read(&mut buf).await.unwrap_or(0), 0);
}

/// A client that stops reading leaves its session's `send` waiting in the kernel; the ring
/// keeps serving every other session meanwhile, and the stuck one still ends when dropped.
#[tokio::test]
async fn a_client_that_stops_reading_holds_up_only_its_own_session() {
    let Some(engine) = engine() else { return };
    let (_stuck_client, pc) = pair().await;
    let (ps, mut flood) = pair().await;
    let counters = ByteCounters::new("uring_test_stuck");
    let stuck = tokio::spawn(async move { engine.relay(pc, ps, &counters, Idle::default()).await });
    // Fill the server → client path until the kernel buffers on both hops are full.
    let chunk = vec![1u8; 64 << 10];
    let mut sent = 0usize;
    while tokio::time::timeout(Duration::from_millis(200), flood.write_all(&chunk))
        .await
        .is_ok()
    {
        sent += chunk.len();
        assert!(sent < 512 << 20, "the relay never pushed back");
    }
    let (mut client, pc) = pair().await;
    let (ps, mut server) = pair().await;
    let counters = ByteCounters::new("uring_test_stuck");
    tokio::spawn(async move { engine.relay(pc, ps, &counters, Idle::default()).await });
    let mut buf = [0u8; 4];
    for i in 0..50u32 {
        client.write_all(&i.to_be_bytes()).await.unwrap();
        server.read_exact(&mut buf).await.unwrap();
        server.write_all(&buf).await.unwrap();
        tokio::time::timeout(Duration::from_secs(2), client.read_exact(&mut buf))
            .await
            .expect("the other session answers while one is stuck")
            .unwrap();
        assert_eq!(u32::from_be_bytes(buf), i);
    }
    stuck.abort();
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(2), async {
        let _ = flood.read_to_end(&mut rest).await;
    })
    .await
    .expect("aborting the stuck relay closes its server side");
}
