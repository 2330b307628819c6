//! The check task of a `[[tcp]]` group: runs each server's check every `check_interval` and
//! applies HAProxy's `rise`/`fall` hysteresis. It is the only writer of the servers' health.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::checks::{self, CheckAuth};
use super::group::{Group, Server};
use crate::admin::metrics::metrics;
use crate::config::{Check, Tcp};

/// Rise/fall hysteresis of one server (pure).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hysteresis {
    pub up: bool,
    /// Consecutive results contradicting `up`.
    streak: u32,
}

impl Hysteresis {
    pub fn new(up: bool) -> Hysteresis {
        Hysteresis { up, streak: 0 }
    }

    /// Feeds one check result; returns the new health.
    pub fn observe(&mut self, ok: bool, rise: u32, fall: u32) -> bool {
        if ok == self.up {
            self.streak = 0;
        } else {
            self.streak += 1;
            if self.streak >= if self.up { fall } else { rise } {
                self.up = ok;
                self.streak = 0;
            }
        }
        self.up
    }
}

/// Settings of a group's checks, taken from its `[[tcp]]` section.
#[derive(Debug, Clone)]
pub struct CheckPlan {
    pub check: Check,
    pub interval: Duration,
    pub timeout: Duration,
    pub rise: u32,
    pub fall: u32,
    pub auth: CheckAuth,
    pub shutdown_sessions_on_down: bool,
}

impl CheckPlan {
    pub fn from_tcp(t: &Tcp) -> CheckPlan {
        CheckPlan {
            check: t.check.get_ref().clone(),
            interval: t.check_interval.0,
            timeout: t
                .check_timeout
                .map_or_else(|| t.check_interval.0.min(Duration::from_secs(2)), |d| d.0),
            rise: t.rise,
            fall: t.fall,
            auth: CheckAuth {
                user: t.check_user.clone(),
                password: t.check_password.clone(),
            },
            shutdown_sessions_on_down: t.shutdown_sessions_on_down,
        }
    }
}

/// Checks every server of `group` until `stop` is cancelled.
pub async fn run(group: Arc<Group>, plan: CheckPlan, stop: CancellationToken) {
    if plan.check == Check::None {
        return;
    }
    let tasks: Vec<_> = group
        .servers
        .iter()
        .map(|s| {
            tokio::spawn(check_server(
                group.name.clone(),
                s.clone(),
                plan.clone(),
                stop.clone(),
            ))
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
}

async fn check_server(
    group: String,
    server: Arc<Server>,
    plan: CheckPlan,
    stop: CancellationToken,
) {
    let mut state = Hysteresis::new(server.is_up());
    let duration = metrics()
        .backend_check_duration_seconds
        .with_label_values(&[&group, &server.spec.name]);
    let mut tick = tokio::time::interval(plan.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let t0 = Instant::now();
        let res = checks::run(&plan.check, &server.spec.addr, &plan.auth, plan.timeout).await;
        duration.observe(t0.elapsed().as_secs_f64());
        let was = state.up;
        let up = state.observe(res.is_ok(), plan.rise, plan.fall);
        let error = res.err().map(|e| e.to_string());
        if was && !up {
            tracing::warn!(%group, server = %server.spec.name, error = error.as_deref().unwrap_or(""), "server marked down");
            if plan.shutdown_sessions_on_down {
                server.kick_sessions();
            }
        } else if !was && up {
            tracing::info!(%group, server = %server.spec.name, "server marked up");
        }
        server.set_health(up, error);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fall_then_rise() {
        let mut h = Hysteresis::new(true);
        assert!(h.observe(false, 2, 3));
        assert!(h.observe(false, 2, 3));
        assert!(!h.observe(false, 2, 3), "third failure marks down");
        assert!(!h.observe(true, 2, 3));
        assert!(h.observe(true, 2, 3), "second success marks up");
    }

    #[test]
    fn a_success_resets_the_fall_streak() {
        let mut h = Hysteresis::new(true);
        h.observe(false, 2, 2);
        h.observe(true, 2, 2);
        assert!(h.observe(false, 2, 2));
        assert!(!h.observe(false, 2, 2));
    }
}
