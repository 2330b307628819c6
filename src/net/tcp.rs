//! The generic L4 `[[tcp]]` listener: pick a server, connect (retrying the next one), relay.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

use super::listener::{self, ListenerCtx};
use super::proxy_protocol;
use super::relay::{self, ByteCounters};
use crate::config::Tcp;
use crate::health::balance;
use crate::health::group::Group;

/// How long a client may take to send its PROXY header when `accept_proxy` is on.
const PROXY_HEADER_TIMEOUT: Duration = Duration::from_secs(3);

/// Serves one `[[tcp]]` listener until `ctx.accept_stop` is cancelled.
pub async fn serve(cfg: Arc<Tcp>, group: Arc<Group>, listener: Arc<TcpListener>, ctx: ListenerCtx) {
    let counters = ByteCounters::new(&ctx.name);
    let session_ctx = ctx.clone();
    listener::serve(
        listener,
        ctx,
        listener::RunOn::Runtime,
        move |client, peer| {
            let (cfg, group, counters, ctx) = (
                cfg.clone(),
                group.clone(),
                counters.clone(),
                session_ctx.clone(),
            );
            async move { session(cfg, group, counters, ctx, client, peer).await }
        },
    )
    .await;
}

async fn session(
    cfg: Arc<Tcp>,
    group: Arc<Group>,
    counters: ByteCounters,
    ctx: ListenerCtx,
    client: TcpStream,
    mut peer: SocketAddr,
) {
    let mut local = client.local_addr().unwrap_or(peer);
    if cfg.accept_proxy {
        match proxy_protocol::read_header(&client, PROXY_HEADER_TIMEOUT).await {
            Ok(Some(a)) => {
                peer = a.source;
                local = a.destination;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::info!(listener = %ctx.name, %peer, error = %e, "bad PROXY header, closing");
                ctx.reject("proxy_header");
                return;
            }
        }
    }
    let Some((server_idx, backend)) = connect(&cfg, &group, &ctx, peer).await else {
        return;
    };
    let server = &group.servers[server_idx];
    let _active = server.open_session();
    let kicked = server.session_token();
    if let Some(h) = proxy_protocol::encode(cfg.send_proxy, peer, local)
        && let Err(e) = relay::write_all(&backend, &h).await
    {
        tracing::info!(listener = %ctx.name, server = %server.spec.name, error = %e, "sending PROXY header failed");
        return;
    }
    tokio::select! {
        r = relay::relay(client, backend, &counters, relay::Idle::new(cfg.client_timeout.0, cfg.server_timeout.0)) => {
            match r {
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                    tracing::debug!(listener = %ctx.name, %peer, server = %server.spec.name, "session closed: idle timeout");
                    ctx.reject("idle_timeout");
                }
                Err(e) => tracing::debug!(listener = %ctx.name, %peer, server = %server.spec.name, error = %e, "session ended with an error"),
                Ok(_) => {}
            }
        }
        _ = kicked.cancelled() => {
            tracing::info!(listener = %ctx.name, %peer, server = %server.spec.name, "session closed: server in maintenance or down");
        }
    }
}

/// Connects to a server, trying up to `retries` other servers when a connect fails.
async fn connect(
    cfg: &Tcp,
    group: &Group,
    ctx: &ListenerCtx,
    peer: SocketAddr,
) -> Option<(usize, TcpStream)> {
    let mut tried = Vec::new();
    for _ in 0..=cfg.retries {
        let Some(i) = balance::pick(group, cfg.balance, peer.ip(), &tried) else {
            break;
        };
        let server = &group.servers[i];
        match tokio::time::timeout(cfg.connect_timeout.0, TcpStream::connect(&server.spec.addr))
            .await
        {
            Ok(Ok(s)) => {
                super::sockopt::backend(&s);
                return Some((i, s));
            }
            Ok(Err(e)) => {
                tracing::warn!(listener = %ctx.name, server = %server.spec.name, error = %e, "connect failed, trying the next server");
            }
            Err(_) => {
                tracing::warn!(listener = %ctx.name, server = %server.spec.name, "connect timed out, trying the next server");
            }
        }
        tried.push(i);
    }
    let reason = if tried.is_empty() {
        "no_server"
    } else {
        "connect_failed"
    };
    tracing::warn!(listener = %ctx.name, %peer, reason, "no server could take the connection, closing");
    ctx.reject(reason);
    None
}
