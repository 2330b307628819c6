//! The `[[redis]]` listener: an L4 relay to the master verified by the Sentinel monitor.
//!
//! No command is parsed on the data path. When the master changes (or is lost), every session
//! bound to the old one is closed at once, so no client keeps writing to a demoted node. While
//! no master is verified, new clients wait up to `connect_timeout`, then get a RESP error.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, timeout_at};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::RedisStatus;
use super::sentinel::{self, MasterRx};
use crate::admin::metrics::metrics;
use crate::config::Redis;
use crate::net::listener::{self, ListenerCtx};
use crate::net::relay::{ByteCounters, Idle, relay, write_all};

/// How long a refused client gets to read the error before the socket is dropped.
const LINGER: Duration = Duration::from_secs(1);

struct Shared {
    cfg: Arc<Redis>,
    ctx: ListenerCtx,
    master: MasterRx,
    counters: ByteCounters,
}

/// Runs one `[[redis]]` listener until `ctx.accept_stop` is cancelled and its sessions are done.
///
/// The Sentinel monitor lives as long as sessions remain; sessions close when `ctx.shutdown` is
/// cancelled. `status` is refreshed after every polling round.
pub async fn serve(
    cfg: Arc<Redis>,
    listener: Arc<TcpListener>,
    ctx: ListenerCtx,
    status: Arc<ArcSwap<RedisStatus>>,
) {
    let monitor_stop = CancellationToken::new();
    let master = sentinel::spawn(cfg.clone(), ctx.name.clone(), status, monitor_stop.clone());
    let sessions = TaskTracker::new();
    let shared = Arc::new(Shared {
        counters: ByteCounters::new(&ctx.name),
        cfg,
        ctx: ctx.clone(),
        master,
    });
    let tracker = sessions.clone();
    listener::serve(
        listener,
        ctx,
        listener::RunOn::Runtime,
        move |stream, peer| {
            let shared = shared.clone();
            let token = tracker.token();
            async move {
                let _token = token;
                session(&shared, stream, peer).await;
            }
        },
    )
    .await;
    sessions.close();
    sessions.wait().await;
    monitor_stop.cancel();
}

/// The RESP error a client gets when no master is verified within `connect_timeout`.
pub fn no_master_error(master_name: &str, waited: Duration) -> String {
    format!(
        "-ERR datagate: no verified Redis master for '{master_name}' (sentinels disagree or the master is down; waited {waited:?})\r\n"
    )
}

async fn session(s: &Shared, client: TcpStream, peer: SocketAddr) {
    let wait = s.cfg.connect_timeout.0;
    let deadline = Instant::now() + wait;
    let mut rx = s.master.clone();
    let (server, addr) = loop {
        let Some(addr) = wait_for_master(&mut rx, deadline).await else {
            return refuse(s, client, peer, wait).await;
        };
        match timeout_at(deadline, TcpStream::connect(&*addr)).await {
            Ok(Ok(server)) if rx.borrow().as_deref() == Some(&*addr) => break (server, addr),
            Ok(Ok(_)) => continue, // the master changed while connecting
            Ok(Err(e)) => {
                tracing::debug!(listener = %s.ctx.name, master = %addr, error = %e,
                    "connect to master failed; waiting for the monitor");
                if !matches!(timeout_at(deadline, rx.changed()).await, Ok(Ok(()))) {
                    return refuse(s, client, peer, wait).await;
                }
            }
            Err(_) => return refuse(s, client, peer, wait).await,
        }
    };
    crate::net::sockopt::backend(&server);
    let active = metrics()
        .backend_connections_active
        .with_label_values(&[&s.ctx.name, &addr]);
    active.inc();
    tokio::select! {
        r = relay(client, server, &s.counters, Idle::new(s.cfg.client_timeout.0, s.cfg.server_timeout.0)) => match r {
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                tracing::debug!(listener = %s.ctx.name, %peer, "session closed: idle timeout");
                s.ctx.reject("idle_timeout");
            }
            Err(e) => tracing::debug!(listener = %s.ctx.name, %peer, error = %e, "session ended"),
            Ok(_) => {}
        },
        _ = master_moved(&mut rx, &addr) => {
            tracing::debug!(listener = %s.ctx.name, %peer, old = %addr, "master changed; closing session");
        }
    }
    active.dec();
}

/// The current master, waiting for one until `deadline`. Marks the value as seen.
async fn wait_for_master(rx: &mut MasterRx, deadline: Instant) -> Option<Arc<str>> {
    loop {
        if let Some(m) = rx.borrow_and_update().clone() {
            return Some(m);
        }
        match timeout_at(deadline, rx.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(_) => return None,
        }
    }
}

/// Resolves when the published master is no longer `addr`.
async fn master_moved(rx: &mut MasterRx, addr: &str) {
    loop {
        if rx.borrow_and_update().as_deref() != Some(addr) {
            return;
        }
        if rx.changed().await.is_err() {
            // Monitor gone (listener stopping): keep the session until it ends by itself.
            std::future::pending::<()>().await;
        }
    }
}

/// Answers a RESP error and closes gracefully (FIN after the client had a chance to read it).
async fn refuse(s: &Shared, client: TcpStream, peer: SocketAddr, waited: Duration) {
    s.ctx.reject("no_master");
    tracing::info!(listener = %s.ctx.name, %peer, "no verified redis master; refusing client");
    let msg = no_master_error(&s.cfg.master_name, waited);
    if write_all(&client, msg.as_bytes()).await.is_err() {
        return;
    }
    let mut client = client;
    let _ = socket2::SockRef::from(&client).shutdown(std::net::Shutdown::Write);
    // Read until the client closes, so pending input does not turn our close into a reset.
    let mut sink = [0u8; 4096];
    let _ = tokio::time::timeout(LINGER, async {
        while let Ok(n) = client.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

#[cfg(test)]
#[path = "proxy_tests.rs"]
mod tests;
