//! The admin HTTP server (hyper): metrics, health, JSON API.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::metrics::metrics;
use crate::app::state::Shared;
use crate::health::group::AdminState;

type Resp = Response<Full<Bytes>>;

/// Largest request body accepted by the API.
const MAX_BODY: usize = 64 * 1024;
/// A client must send its request headers within this (slowloris).
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// ... and its body within this.
const BODY_TIMEOUT: Duration = Duration::from_secs(5);
/// A connection lives at most this long (keep-alive included): scrapes and `ctl` calls are short.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(60);
/// Admin connections open at once; more are closed at accept.
const MAX_CONNECTIONS: usize = 64;

/// Serves the admin API on `listener` forever.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "admin accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "too many admin connections; closing a new one");
            drop(stream);
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let svc = service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(handle(req, &shared).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), svc);
            let mut conn = std::pin::pin!(conn);
            if tokio::time::timeout(CONNECTION_TIMEOUT, conn.as_mut())
                .await
                .is_err()
            {
                // Finish the request in progress, if any, then close.
                conn.as_mut().graceful_shutdown();
                let _ = tokio::time::timeout(BODY_TIMEOUT, conn).await;
                tracing::debug!(%peer, "admin connection closed after {CONNECTION_TIMEOUT:?}");
            }
        });
    }
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Resp {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        "text/plain; charset=utf-8".parse().expect("static header"),
    );
    r
}

fn json(status: StatusCode, v: &serde_json::Value) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(format!("{v:#}\n"))));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        "application/json".parse().expect("static header"),
    );
    r
}

fn error(status: StatusCode, msg: &str) -> Resp {
    json(status, &serde_json::json!({ "error": msg }))
}

fn authorized(req: &Request<Incoming>, shared: &Shared) -> bool {
    let token = shared.token.load();
    let Some(expected) = token.as_deref() else {
        return false;
    };
    let got = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    // Constant-time comparison: the token is a secret.
    got.is_some_and(|g| {
        g.len() == expected.len()
            && g.bytes()
                .zip(expected.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    })
}

async fn handle(req: Request<Incoming>, shared: &Shared) -> Resp {
    let path = req.uri().path().to_string();
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let snap = shared.snapshot.load_full();
    match (req.method(), segs.as_slice()) {
        (&Method::GET, ["metrics"]) => {
            let mut r = text(StatusCode::OK, metrics().render());
            r.headers_mut().insert(
                CONTENT_TYPE,
                "text/plain; version=0.0.4".parse().expect("static header"),
            );
            r
        }
        (&Method::GET, ["healthz"]) => text(StatusCode::OK, "ok\n"),
        (&Method::GET, ["readyz"]) => match snap.ready() {
            Ok(()) => text(StatusCode::OK, "ready\n"),
            Err(why) => text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not ready: {why}\n"),
            ),
        },
        (&Method::GET, ["api", "v1", "servers"]) => json(StatusCode::OK, &snap.servers_view()),
        (&Method::GET, ["api", "v1", "vrrp"]) => match &snap.vrrp {
            Some(v) => json(StatusCode::OK, &(v.view)()),
            None => error(StatusCode::NOT_FOUND, "no [vrrp] section configured"),
        },
        (&Method::POST, ["api", "v1", "reload"]) => {
            if !authorized(&req, shared) {
                return error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
            }
            let (tx, rx) = tokio::sync::oneshot::channel();
            if shared.reload_tx.send(tx).await.is_err() {
                return error(StatusCode::SERVICE_UNAVAILABLE, "shutting down");
            }
            match rx.await {
                Ok(Ok(())) => json(StatusCode::OK, &serde_json::json!({ "result": "reloaded" })),
                Ok(Err(e)) => error(StatusCode::BAD_REQUEST, &e),
                Err(_) => error(StatusCode::SERVICE_UNAVAILABLE, "shutting down"),
            }
        }
        (&Method::POST, ["api", "v1", "servers", group, addr, "state"]) => {
            if !authorized(&req, shared) {
                return error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
            }
            let (group, addr) = (group.to_string(), addr.to_string());
            set_state(req, &snap, &group, &addr).await
        }
        (_, ["api", ..]) | (_, ["metrics" | "healthz" | "readyz"]) => {
            error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
        }
        _ => error(StatusCode::NOT_FOUND, "not found"),
    }
}

async fn set_state(
    req: Request<Incoming>,
    snap: &crate::app::state::Snapshot,
    group: &str,
    addr: &str,
) -> Resp {
    let read = Limited::new(req.into_body(), MAX_BODY).collect();
    let body = match tokio::time::timeout(BODY_TIMEOUT, read).await {
        Ok(Ok(b)) => b.to_bytes(),
        Ok(Err(_)) => return error(StatusCode::PAYLOAD_TOO_LARGE, "body too large"),
        Err(_) => return error(StatusCode::REQUEST_TIMEOUT, "body not sent in time"),
    };
    #[derive(serde::Deserialize)]
    struct Body {
        state: String,
    }
    let Ok(b) = serde_json::from_slice::<Body>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "body must be {\"state\": \"ready|drain|maint\"}",
        );
    };
    let Some(state) = AdminState::parse(&b.state) else {
        return error(
            StatusCode::BAD_REQUEST,
            "state must be ready, drain or maint",
        );
    };
    let Some(g) = snap.tcp.get(group) else {
        return error(
            StatusCode::NOT_FOUND,
            &format!("no [[tcp]] group {group:?}"),
        );
    };
    let Some(server) = g.find(addr) else {
        return error(
            StatusCode::NOT_FOUND,
            &format!("no server {addr:?} in {group:?}"),
        );
    };
    server.set_admin(state);
    tracing::info!(group, server = addr, state = b.state, "admin state changed");
    json(
        StatusCode::OK,
        &serde_json::json!({ "group": group, "server": addr, "state": b.state }),
    )
}
