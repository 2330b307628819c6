//! Sockets of executor tasks on the ring ([`super::sock`]).

use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

use super::Sock;
use super::tests::engine;

use crate::net::tcp_pair as pair;

async fn within<F: std::future::Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(5), f)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

#[tokio::test]
async fn a_task_echoes_through_the_ring_until_eof() {
    let Some(engine) = engine() else { return };
    let (mut peer, mine) = pair().await;
    let (done, report) = oneshot::channel();
    engine.spawn(async move {
        let mut s = Sock::new(mine);
        assert!(super::on_ring());
        let mut total = 0usize;
        let mut buf = BytesMut::new();
        loop {
            match s.read_buf(&mut buf).await {
                Ok(0) => break,
                Ok(n) => total += n,
                Err(e) => panic!("{e}"),
            }
            let data = buf.split();
            s.write_all(&data).await.unwrap();
            s.write_all(&[]).await.unwrap();
        }
        let _ = done.send(total);
    });
    // Larger than any socket buffer: the ring's sends come back short and are continued.
    let big: Vec<u8> = (0..4u32 << 20).map(|i| (i % 251) as u8).collect();
    let (mut rd, mut wr) = peer.split();
    let writer = async {
        wr.write_all(&big).await.unwrap();
        wr.shutdown().await.unwrap();
    };
    let mut back = Vec::new();
    let reader = rd.read_to_end(&mut back);
    let ((), read) = within("echo", async { tokio::join!(writer, reader) }).await;
    read.unwrap();
    assert_eq!(back.len(), big.len());
    assert!(back == big, "bytes came back out of order");
    assert_eq!(within("report", report).await.unwrap(), big.len());
}

#[tokio::test]
async fn bytes_of_a_dropped_read_are_kept_for_the_next() {
    let Some(engine) = engine() else { return };
    let (mut peer, mine) = pair().await;
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let (dropped_tx, dropped_rx) = oneshot::channel();
    let (done, report) = oneshot::channel();
    engine.spawn(async move {
        let mut s = Sock::new(mine);
        let mut first = BytesMut::new();
        tokio::select! {
            r = s.read_buf(&mut first) => panic!("nothing was sent yet: {r:?}"),
            _ = stop_rx => {}
        }
        let _ = dropped_tx.send(());
        // The recv of the dropped read is still in flight and gets the bytes.
        s.readable().await.unwrap();
        let mut second = BytesMut::new();
        let n = s.read_buf(&mut second).await.unwrap();
        let _ = done.send((n, second));
    });
    stop_tx.send(()).unwrap();
    within("the first read is dropped", dropped_rx)
        .await
        .unwrap();
    peer.write_all(b"hello").await.unwrap();
    let (n, got) = within("second read", report).await.unwrap();
    assert_eq!(n, 5);
    assert_eq!(&got[..], b"hello");
}

#[tokio::test]
async fn dropping_a_socket_with_a_read_in_flight_closes_it() {
    let Some(engine) = engine() else { return };
    let (mut peer, mine) = pair().await;
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    engine.spawn(async move {
        let mut s = Sock::new(mine);
        let mut buf = BytesMut::new();
        tokio::select! {
            _ = s.read_buf(&mut buf) => {}
            _ = stop_rx => {}
        }
        drop(s);
    });
    stop_tx.send(()).unwrap();
    let mut rest = Vec::new();
    let n = within("the peer sees the close", peer.read_to_end(&mut rest))
        .await
        .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn an_idle_wait_ends_on_data_and_on_close() {
    let Some(engine) = engine() else { return };
    let (mut peer, mine) = pair().await;
    let (done, report) = oneshot::channel();
    engine.spawn(async move {
        let mut s = Sock::new(mine);
        let mut seen = Vec::new();
        loop {
            s.readable().await.unwrap();
            let mut buf = BytesMut::new();
            match s.read_buf(&mut buf).await.unwrap() {
                0 => break,
                _ => seen.extend_from_slice(&buf),
            }
        }
        let _ = done.send(seen);
    });
    peer.write_all(b"one ").await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    peer.write_all(b"two").await.unwrap();
    peer.shutdown().await.unwrap();
    assert_eq!(within("eof", report).await.unwrap(), b"one two");
}

#[tokio::test]
async fn off_the_ring_a_socket_is_a_runtime_socket() {
    let (mut peer, mine) = pair().await;
    let mut s = Sock::new(mine);
    assert!(!super::on_ring());
    s.write_all(b"ping").await.unwrap();
    let mut got = [0u8; 4];
    peer.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"ping");
    let mut buf = BytesMut::new();
    peer.write_all(b"pong").await.unwrap();
    assert_eq!(s.read_buf(&mut buf).await.unwrap(), 4);
    assert!(!s.has_input());
}

#[tokio::test]
async fn a_panicking_task_leaves_the_ring_serving() {
    let Some(engine) = engine() else { return };
    engine.spawn(async { panic!("a bug in one session") });
    let (done, report) = oneshot::channel();
    engine.spawn(async move {
        let _ = done.send(super::on_ring());
    });
    assert!(within("the next task runs", report).await.unwrap());
}
