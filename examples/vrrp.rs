//! Runs only the `[vrrp]` section of a datagate config file: `vrrp -c FILE`.
//!
//! SIGTERM/SIGINT stop gracefully (priority 0, VIPs released). SIGUSR1 applies a tracking
//! penalty of -100, SIGUSR2 clears it: handy to exercise priority changes by hand.

use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;
use datagate::vrrp::{self, VrrpStatus};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args: Vec<String> = std::env::args().collect();
    let path = match args.as_slice() {
        [_, flag, file] if flag == "-c" => PathBuf::from(file),
        _ => anyhow::bail!("usage: vrrp -c FILE"),
    };
    let cfg = datagate::config::load(&path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let v = cfg
        .vrrp
        .ok_or_else(|| anyhow::anyhow!("{}: no [vrrp] section", path.display()))?
        .into_inner();
    let (penalty_tx, penalty) = watch::channel(0);
    let status = Arc::new(ArcSwap::from_pointee(VrrpStatus::default()));
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        let (Ok(mut term), Ok(mut int), Ok(mut usr1), Ok(mut usr2)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::user_defined1()),
            signal(SignalKind::user_defined2()),
        ) else {
            return;
        };
        loop {
            tokio::select! {
                _ = term.recv() => break,
                _ = int.recv() => break,
                _ = usr1.recv() => { let _ = penalty_tx.send(-100); }
                _ = usr2.recv() => { let _ = penalty_tx.send(0); }
            }
        }
        stop.cancel();
    });
    vrrp::run(v, penalty, status, shutdown).await?;
    Ok(())
}
