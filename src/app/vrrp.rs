//! Running the `[vrrp]` instance and feeding it the tracked health of the other parts.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::state::{Shared, Snapshot, StatusSource};
use crate::config::{Track, Vrrp};
use crate::vrrp::{self, VrrpError, VrrpStatus};

/// How often tracked health is re-evaluated.
const TRACK_PERIOD: Duration = Duration::from_millis(200);

/// How long start-up waits for an early VRRP failure (missing capability, unknown interface).
const EARLY_FAILURE_WINDOW: Duration = Duration::from_millis(300);

/// The running VRRP instance.
pub struct RunningVrrp {
    pub cfg: Vrrp,
    stop: CancellationToken,
    task: JoinHandle<Result<(), VrrpError>>,
    tracks: Arc<ArcSwap<Vec<Track>>>,
    pub status: Arc<StatusSource>,
}

/// Sum of the weights of the tracked groups that are failing (0 or negative).
pub fn penalty(tracks: &[Track], snap: &Snapshot) -> i32 {
    tracks
        .iter()
        .filter(|t| {
            let healthy = match (&t.galera, &t.redis, &t.tcp) {
                (Some(g), _, _) => snap.galera.get(g).is_some_and(|s| (s.has_master)()),
                (_, Some(r), _) => snap.redis.get(r).is_some_and(|s| (s.has_master)()),
                (_, _, Some(n)) => snap
                    .tcp
                    .get(n)
                    .is_some_and(|g| g.servers.iter().any(|s| s.is_up())),
                _ => true,
            };
            !healthy
        })
        .map(|t| t.weight)
        .sum()
}

/// Starts VRRP; fails at once when the instance cannot run (e.g. a missing capability).
pub async fn start(cfg: Vrrp, shared: Arc<Shared>) -> Result<RunningVrrp, VrrpError> {
    let tracks: Arc<ArcSwap<Vec<Track>>> = Arc::new(ArcSwap::from_pointee(
        cfg.track.iter().map(|t| t.get_ref().clone()).collect(),
    ));
    let (tx, rx) = watch::channel(0);
    let stop = CancellationToken::new();
    tokio::spawn(track(tracks.clone(), shared, tx, stop.clone()));
    let cell = Arc::new(ArcSwap::from_pointee(VrrpStatus::default()));
    let mut task = tokio::spawn(vrrp::run(cfg.clone(), rx, cell.clone(), stop.clone()));
    if let Ok(joined) = tokio::time::timeout(EARLY_FAILURE_WINDOW, &mut task).await {
        stop.cancel();
        return Err(match joined {
            Ok(Err(e)) => e,
            Ok(Ok(())) => VrrpError::Config("the VRRP task ended at start".into()),
            Err(e) => VrrpError::Config(format!("the VRRP task failed: {e}")),
        });
    }
    let view = cell.clone();
    let status = Arc::new(StatusSource {
        view: Box::new(move || serde_json::to_value(&**view.load()).unwrap_or_default()),
        has_master: Box::new(move || cell.load().state == "master"),
    });
    Ok(RunningVrrp {
        cfg,
        stop,
        task,
        tracks,
        status,
    })
}

impl RunningVrrp {
    /// Applies a new `[vrrp]` section: only `track` changes apply live; anything else needs a
    /// restart of the instance (returns false).
    pub fn update(&self, cfg: &Vrrp) -> bool {
        let mut a = self.cfg.clone();
        a.track = cfg.track.clone();
        if a != *cfg {
            return false;
        }
        self.tracks.store(Arc::new(
            cfg.track.iter().map(|t| t.get_ref().clone()).collect(),
        ));
        true
    }

    /// Sends priority 0, removes the VIPs and waits for the task to finish.
    pub async fn stop(self) {
        self.stop.cancel();
        match tokio::time::timeout(Duration::from_secs(5), self.task).await {
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "vrrp stopped with an error"),
            Err(_) => tracing::warn!("vrrp did not stop within 5s"),
            _ => {}
        }
    }
}

async fn track(
    tracks: Arc<ArcSwap<Vec<Track>>>,
    shared: Arc<Shared>,
    tx: watch::Sender<i32>,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(TRACK_PERIOD);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let p = penalty(&tracks.load(), &shared.snapshot.load());
        tx.send_if_modified(|old| {
            if *old != p {
                tracing::info!(from = *old, to = p, "vrrp tracking penalty changed");
                *old = p;
                true
            } else {
                false
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ServerSpec;
    use crate::health::group::Group;

    fn src(master: bool) -> Arc<StatusSource> {
        Arc::new(StatusSource {
            view: Box::new(|| serde_json::Value::Null),
            has_master: Box::new(move || master),
        })
    }

    fn track(galera: Option<&str>, redis: Option<&str>, tcp: Option<&str>, weight: i32) -> Track {
        Track {
            galera: galera.map(Into::into),
            redis: redis.map(Into::into),
            tcp: tcp.map(Into::into),
            weight,
        }
    }

    #[test]
    fn failing_trackers_add_their_weights() {
        let mut snap = Snapshot::default();
        snap.galera.insert("g".into(), src(true));
        snap.redis.insert("r".into(), src(false));
        let spec = ServerSpec {
            addr: "127.0.0.1:1".into(),
            name: "s".into(),
            backup: false,
            priority: 0,
        };
        let group = Arc::new(Group::new("penalty_test", &[spec], None));
        snap.tcp.insert("t".into(), group.clone());
        let tracks = [
            track(Some("g"), None, None, -100),
            track(None, Some("r"), None, -50),
            track(None, None, Some("t"), -20),
        ];
        assert_eq!(penalty(&tracks, &snap), -50);
        group.servers[0].set_health(false, None);
        assert_eq!(penalty(&tracks, &snap), -70);
        snap.galera.insert("g".into(), src(false));
        assert_eq!(penalty(&tracks, &snap), -170);
        // A group that is not running counts as failing.
        assert_eq!(
            penalty(
                &[track(Some("missing"), None, None, -10)],
                &Snapshot::default()
            ),
            -10
        );
    }
}
