//! One pub/sub subscription per sentinel. Events are hints for the monitor (an immediate poll,
//! or a fence on `+selected-slave`); losing them is harmless because polling is the truth.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::client::Conn;
use super::reply::{self, Hint};
use super::resp::RespError;
use crate::config::Redis;

/// Channels subscribed on every sentinel.
pub const CHANNELS: [&[u8]; 9] = [
    b"+switch-master",
    b"+selected-slave",
    b"+promoted-slave",
    b"-failover-abort-not-elected",
    b"-failover-abort-no-good-slave",
    b"-failover-abort-slave-timeout",
    b"+failover-end",
    b"+sdown",
    b"-sdown",
];

/// Keeps one subscription to a sentinel's events, reconnecting forever; every event about our
/// master (and every reconnect, since events may have been missed) becomes a hint.
pub async fn run(
    cfg: Arc<Redis>,
    addr: String,
    hints: mpsc::Sender<Hint>,
    stop: CancellationToken,
) {
    let retry = cfg.check_interval.0.max(Duration::from_millis(100));
    loop {
        let session = listen(&cfg, &addr, &hints);
        tokio::select! {
            _ = stop.cancelled() => return,
            r = session => if let Err(e) = r {
                tracing::debug!(sentinel = %addr, error = %e, "sentinel subscription lost");
            },
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(retry) => {}
        }
    }
}

/// One subscription until it fails.
async fn listen(cfg: &Redis, addr: &str, hints: &mpsc::Sender<Hint>) -> Result<(), RespError> {
    let mut c = Conn::connect(addr, cfg.check_timeout()).await?;
    if let Some(p) = &cfg.sentinel_password {
        c.auth(p).await?;
    }
    let mut args: Vec<&[u8]> = vec![b"SUBSCRIBE"];
    args.extend(CHANNELS);
    c.send(&args).await?;
    let _ = hints.try_send(Hint::Changed);
    loop {
        let f = c.read_reply().await?;
        match reply::hint(&f, &cfg.master_name) {
            Ok(Some(h)) => {
                let _ = hints.try_send(h);
            }
            Ok(None) => {}
            Err(e) => tracing::debug!(sentinel = %addr, error = %e, "ignored push"),
        }
    }
}
