//! The daemon: load the config, start every part, then serve reloads and stop gracefully.
//!
//! One task (this one) owns the running set and is the only writer of the admin snapshot.

mod listeners;
pub mod state;
mod vrrp;
mod wiring;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::admin::metrics::metrics;
use crate::config::{self, Config};
use listeners::{Running, Spawner};
use state::{ReloadRequest, Shared, Snapshot};

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(#[from] config::ConfigErrors),
    #[error("{0}")]
    Bind(String),
    #[error("admin: {0}")]
    Admin(std::io::Error),
    #[error("{0}")]
    Unsupported(String),
    #[error("vrrp: {0}")]
    Vrrp(#[from] crate::vrrp::VrrpError),
}

struct App {
    path: PathBuf,
    cfg: Config,
    running: HashMap<String, Running>,
    spawner: Spawner,
    shared: Arc<Shared>,
    vrrp: Option<vrrp::RunningVrrp>,
    galera: HashMap<String, wiring::RunningGalera>,
}

/// Runs the daemon until SIGTERM/SIGINT; returns after the graceful stop.
pub async fn run(path: PathBuf) -> Result<(), StartError> {
    let cfg = config::load(&path)?;
    refuse_unsupported(&cfg)?;
    let engine =
        crate::net::uring::install(cfg.global.relay_engine).map_err(StartError::Unsupported)?;
    let (reload_tx, mut reload_rx) = mpsc::channel::<ReloadRequest>(4);
    let shared = Arc::new(Shared {
        snapshot: ArcSwap::from_pointee(Snapshot::default()),
        reload_tx,
        token: ArcSwap::from_pointee(read_token(&cfg)),
    });
    let admin_addr = cfg
        .admin
        .listen
        .get_ref()
        .parse()
        .map_err(|_| StartError::Bind("admin listen".into()))?;
    let admin_socket = listeners::bind(admin_addr).map_err(StartError::Admin)?;
    let mut app = App {
        path,
        cfg: Config::default(),
        running: HashMap::new(),
        spawner: Spawner {
            tracker: TaskTracker::new(),
            shutdown: CancellationToken::new(),
        },
        shared: shared.clone(),
        vrrp: None,
        galera: HashMap::new(),
    };
    let vrrp_cfg = cfg.vrrp.as_ref().map(|v| v.get_ref().clone());
    app.apply(cfg).map_err(StartError::Bind)?;
    if let Some(v) = vrrp_cfg {
        app.vrrp = Some(vrrp::start(v, shared.clone()).await?);
        app.publish();
    }
    tokio::spawn(crate::admin::http::serve(admin_socket, shared.clone()));
    tracing::info!(admin = %admin_addr, relay_engine = engine, "datagate ready");
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);

    let mut hup = signal(SignalKind::hangup()).map_err(StartError::Admin)?;
    let mut term = signal(SignalKind::terminate()).map_err(StartError::Admin)?;
    let mut int = signal(SignalKind::interrupt()).map_err(StartError::Admin)?;
    let mut watchdog = tokio::time::interval(watchdog_period(&app.cfg));
    loop {
        tokio::select! {
            _ = hup.recv() => { let _ = app.reload().await; }
            Some(reply) = reload_rx.recv() => { let _ = reply.send(app.reload().await); }
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = watchdog.tick() => { let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]); }
        }
    }
    app.stop().await;
    Ok(())
}

/// Half the systemd watchdog period, or a slow tick when there is no watchdog.
fn watchdog_period(cfg: &Config) -> Duration {
    match sd_notify::watchdog_enabled() {
        Some(d) if !d.is_zero() => (d / 2).max(cfg.global.watchdog_floor.0),
        _ => Duration::from_secs(3600),
    }
}

fn read_token(cfg: &Config) -> Option<String> {
    if let Some(t) = &cfg.admin.token {
        return Some(t.clone());
    }
    let f = cfg.admin.token_file.as_ref()?;
    match std::fs::read_to_string(f) {
        Ok(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Ok(_) => {
            tracing::warn!(file = %f.display(), "admin token file is empty; mutating API calls are refused");
            None
        }
        Err(e) => {
            tracing::warn!(file = %f.display(), error = %e, "cannot read the admin token file; mutating API calls are refused");
            None
        }
    }
}

/// Settings that cannot work are refused at load, never ignored (TLS files that do not load).
fn refuse_unsupported(cfg: &Config) -> Result<(), StartError> {
    for m in &cfg.mysql {
        if let Some(Err(e)) = m.tls.as_ref().map(crate::mysql::tls::acceptor) {
            return Err(StartError::Unsupported(format!(
                "[[mysql]] {:?}: tls: {e}",
                m.name.get_ref()
            )));
        }
    }
    Ok(())
}

impl App {
    /// Builds and swaps to `cfg`. On error nothing has changed.
    fn apply(&mut self, cfg: Config) -> Result<(), String> {
        let specs = listeners::specs(&cfg);
        let sockets = listeners::bind_all(&specs, &self.running)?;
        crate::net::sockopt::set_backend_tcp_timeout(cfg.global.backend_tcp_timeout.0);
        // Monitors first: `[[mysql]]` listeners follow their cluster's snapshots.
        self.apply_galera(&cfg);
        let mut next = HashMap::new();
        for (name, spec) in specs {
            let (addr, socket) = sockets[&name].clone();
            if let Some(old) = self.running.remove(&name) {
                if old.spec == spec && old.addr == addr {
                    next.insert(name, old);
                    continue;
                }
                old.stop.cancel();
                tracing::info!(listener = %name, "listener changed; new sessions use the new settings");
                next.insert(
                    name.clone(),
                    self.spawner
                        .start(&name, spec, addr, socket, Some(&old), &self.galera),
                );
            } else {
                next.insert(
                    name.clone(),
                    self.spawner
                        .start(&name, spec, addr, socket, None, &self.galera),
                );
            }
        }
        for (name, old) in self.running.drain() {
            tracing::info!(listener = %name, addr = %old.addr, "listener removed; open sessions drain");
            old.stop.cancel();
        }
        self.running = next;
        self.shared.token.store(Arc::new(read_token(&cfg)));
        self.cfg = cfg;
        self.publish();
        Ok(())
    }

    /// Starts, keeps or restarts the `[[galera]]` monitors (one writer per cluster snapshot).
    fn apply_galera(&mut self, cfg: &Config) {
        let mut next = HashMap::new();
        for g in &cfg.galera {
            let name = g.name.get_ref().clone();
            match self.galera.remove(&name) {
                Some(old) if old.cfg == *g => {
                    next.insert(name, old);
                }
                old => {
                    if let Some(old) = old {
                        old.stop.cancel();
                    }
                    next.insert(name, wiring::start_galera(g));
                }
            }
        }
        for (_, old) in self.galera.drain() {
            old.stop.cancel();
        }
        self.galera = next;
    }

    fn publish(&self) {
        let mut snap = Snapshot {
            listening: true,
            ..Snapshot::default()
        };
        for (name, r) in &self.running {
            if let Some(g) = &r.group {
                snap.tcp.insert(name.clone(), g.clone());
            }
            if let Some(s) = &r.status {
                snap.redis.insert(name.clone(), s.clone());
            }
        }
        for (name, g) in &self.galera {
            snap.galera.insert(name.clone(), g.status.clone());
        }
        snap.vrrp = self.vrrp.as_ref().map(|v| v.status.clone());
        self.shared.snapshot.store(Arc::new(snap));
    }

    /// Brings the VRRP instance in line with the config just applied.
    async fn apply_vrrp(&mut self) -> Result<(), String> {
        let want = self.cfg.vrrp.as_ref().map(|v| v.get_ref().clone());
        match (self.vrrp.take(), want) {
            (None, None) => {}
            (Some(old), None) => old.stop().await,
            (Some(old), Some(new)) if old.update(&new) => self.vrrp = Some(old),
            (old, Some(new)) => {
                if let Some(old) = old {
                    tracing::info!("[vrrp] changed: restarting the instance");
                    old.stop().await;
                }
                self.vrrp = Some(
                    vrrp::start(new, self.shared.clone())
                        .await
                        .map_err(|e| format!("vrrp: {e}"))?,
                );
            }
        }
        self.publish();
        Ok(())
    }

    /// Reloads the config file; a bad file is logged, counted and changes nothing.
    async fn reload(&mut self) -> Result<(), String> {
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Reloading]);
        let mut res = config::load(&self.path)
            .map_err(|e| e.to_string())
            .and_then(|cfg| {
                refuse_unsupported(&cfg)
                    .map(|_| cfg)
                    .map_err(|e| e.to_string())
            })
            .and_then(|cfg| self.apply(cfg));
        if res.is_ok() {
            res = self.apply_vrrp().await;
        }
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
        let result = if res.is_ok() { "ok" } else { "error" };
        metrics()
            .config_reloads_total
            .with_label_values(&[result])
            .inc();
        match &res {
            Ok(()) => tracing::info!(file = %self.path.display(), "configuration reloaded"),
            Err(e) => {
                tracing::error!(file = %self.path.display(), error = %e, "reload refused; running configuration unchanged")
            }
        }
        res
    }

    /// Graceful stop: stop accepting, wait for sessions up to `shutdown_timeout`, then close them.
    async fn stop(mut self) {
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
        // VRRP first: priority 0 hands the VIP over while we still serve (RFC 9568 6.4.3).
        if let Some(v) = self.vrrp.take() {
            v.stop().await;
        }
        tracing::info!("stopping: no new connections; draining open sessions");
        // Cancelling ends the accept loops; dropping our handles closes the listening sockets.
        for (_, r) in self.running.drain() {
            r.stop.cancel();
        }
        let tracker = self.spawner.tracker.clone();
        tracker.close();
        let limit = self.cfg.global.shutdown_timeout.0;
        if tokio::time::timeout(limit, tracker.wait()).await.is_err() {
            tracing::warn!(
                open = tracker.len(),
                "shutdown_timeout reached; closing the remaining sessions"
            );
            self.spawner.shutdown.cancel();
            let _ = tokio::time::timeout(Duration::from_secs(2), tracker.wait()).await;
        }
        tracing::info!("stopped");
    }
}
