//! Network plumbing shared by every listener kind: accept loop, relay, PROXY protocol, L4 proxy.

pub mod deadline;
pub mod listener;
pub mod proxy_protocol;
pub mod relay;
pub mod sockopt;
pub mod tcp;
pub mod uring;

/// A connected loopback pair, for tests of code that moves bytes between sockets.
#[cfg(test)]
pub(crate) async fn tcp_pair() -> (tokio::net::TcpStream, tokio::net::TcpStream) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = tokio::net::TcpStream::connect(l.local_addr().unwrap())
        .await
        .unwrap();
    let (b, _) = l.accept().await.unwrap();
    (a, b)
}
