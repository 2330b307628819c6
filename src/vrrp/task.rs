//! The I/O shell around [`Fsm`]: sockets, timers, netlink, announcements, hooks, metrics, status.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use ipnet::IpNet;
use tokio::sync::watch;
use tokio::time::sleep_until;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::filter::{Dropped, RecvFilter};
use super::fsm::{Action, Event, Fsm, Params, State};
use super::garp::Announcer;
use super::io::{GROUP_V4, GROUP_V6, Received, VrrpSocket, link_info};
use super::netlink::VipSet;
use super::packet::{Advert, Version};
use super::script;
use super::track::{Health, Tracked, Weight, tracked};
use super::{TrackScriptStatus, VrrpError, VrrpStatus, effective_priority};
use crate::admin::metrics::metrics;
use crate::config::Vrrp;

/// How often the interface state is read.
const LINK_POLL: Duration = Duration::from_millis(100);
const STATES: [State; 4] = [
    State::Initialize,
    State::Backup,
    State::Master,
    State::Fault,
];

struct Instance {
    cfg: Vrrp,
    version: Version,
    vrid: u8,
    base_priority: u8,
    vips: VipSet,
    sock: VrrpSocket,
    announcer: Announcer,
    dests: Vec<IpAddr>,
    filter: RecvFilter,
    status: Arc<ArcSwap<VrrpStatus>>,
    st: VrrpStatus,
    timer: Option<Instant>,
    garp_left: u32,
    garp_due: Option<Instant>,
    refresh_due: Option<Instant>,
    /// Sum of the weights of the failing `track` groups.
    group_penalty: i32,
    /// The interface is down, or a weight-0 track script fails.
    faulted: bool,
    link_up: bool,
}

fn config_error(msg: impl Into<String>) -> VrrpError {
    VrrpError::Config(msg.into())
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

async fn sleep_opt(at: Option<Instant>) {
    match at {
        Some(t) => sleep_until(tokio::time::Instant::from_std(t)).await,
        None => std::future::pending().await,
    }
}

pub(super) async fn run(
    cfg: Vrrp,
    mut penalty: watch::Receiver<i32>,
    status: Arc<ArcSwap<VrrpStatus>>,
    shutdown: CancellationToken,
) -> Result<(), VrrpError> {
    let (mut inst, mut fsm) = Instance::setup(cfg, *penalty.borrow_and_update(), status)?;
    // A VIP left behind by a crashed predecessor must not make two holders.
    inst.vips.remove_all().await?;
    // The scripts run in their own tasks, stopped when this one returns.
    let scripts_stop = CancellationToken::new();
    let _stop_scripts = scripts_stop.clone().drop_guard();
    let mut scripts = script::spawn(
        &inst
            .cfg
            .track_script
            .iter()
            .map(|t| t.get_ref().clone())
            .collect::<Vec<_>>(),
        &scripts_stop,
    );
    inst.apply(&mut fsm, Event::Startup).await;
    let mut poll = tokio::time::interval(LINK_POLL);
    let mut penalty_open = true;
    let mut scripts_open = true;
    let mut shutting_down = false;
    while !fsm.stopped() {
        tokio::select! {
            _ = shutdown.cancelled(), if !shutting_down => {
                shutting_down = true;
                info!("vrrp: shutting down");
                inst.apply(&mut fsm, Event::Shutdown).await;
            }
            r = inst.sock.recv() => match r {
                Ok(r) => {
                    if let Some(ev) = inst.validate(r) {
                        inst.apply(&mut fsm, ev).await;
                    }
                }
                Err(e) => {
                    warn!("vrrp: receive error: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            _ = sleep_opt(inst.timer) => {
                if let Some((t, _)) = fsm.timer() {
                    inst.timer = None;
                    inst.apply(&mut fsm, Event::TimerFired(t)).await;
                }
            }
            _ = sleep_opt(earliest(inst.garp_due, inst.refresh_due)) => {
                inst.announce_tick();
            }
            changed = penalty.changed(), if penalty_open => {
                if changed.is_err() {
                    penalty_open = false;
                    continue;
                }
                inst.group_penalty = *penalty.borrow_and_update();
                inst.retrack(&mut fsm).await;
            }
            changed = scripts.changed(), if scripts_open => {
                if changed.is_err() {
                    scripts_open = false;
                    continue;
                }
                let health = scripts.borrow_and_update().clone();
                for (shown, h) in inst.st.track_scripts.iter_mut().zip(health) {
                    shown.health = h;
                }
                inst.publish();
                inst.retrack(&mut fsm).await;
            }
            _ = poll.tick() => {
                let up = link_info(&inst.cfg.interface).map(|l| l.up).unwrap_or(false);
                if up != inst.link_up {
                    inst.link_up = up;
                    warn!("vrrp: interface {} is {}", inst.cfg.interface, if up { "up" } else { "down" });
                    inst.retrack(&mut fsm).await;
                }
            }
        }
    }
    // Whatever happened above, a stopped router holds no address.
    inst.vips.remove_all().await?;
    Ok(())
}

impl Instance {
    fn setup(
        cfg: Vrrp,
        penalty: i32,
        status: Arc<ArcSwap<VrrpStatus>>,
    ) -> Result<(Instance, Fsm), VrrpError> {
        let version = Version::from_number(*cfg.version.get_ref())
            .ok_or_else(|| config_error("version must be 2 or 3"))?;
        let vrid =
            u8::try_from(*cfg.vrid.get_ref()).map_err(|_| config_error("vrid out of range"))?;
        let base_priority = u8::try_from(*cfg.priority.get_ref())
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| config_error("priority out of range 1..255"))?;
        let vips = cfg
            .vips
            .iter()
            .map(|v| {
                v.get_ref()
                    .parse::<IpNet>()
                    .map_err(|_| config_error(format!("bad vip {:?}", v.get_ref())))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let v6 = vips
            .first()
            .ok_or_else(|| config_error("no vips"))?
            .addr()
            .is_ipv6();
        let peers = cfg
            .unicast_peers
            .iter()
            .map(|p| {
                p.get_ref()
                    .parse::<IpAddr>()
                    .map_err(|_| config_error(format!("bad peer {:?}", p.get_ref())))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let link = link_info(&cfg.interface)?;
        let src = match &cfg.unicast_src {
            Some(s) => s
                .parse::<IpAddr>()
                .map_err(|_| config_error(format!("bad unicast_src {s:?}")))?,
            None if v6 => IpAddr::V6(*link.link_local.first().ok_or_else(|| {
                VrrpError::Interface(cfg.interface.clone(), "no IPv6 link-local address".into())
            })?),
            None => IpAddr::V4(
                *link
                    .v4
                    .iter()
                    .find(|a| !vips.iter().any(|v| v.addr() == IpAddr::V4(**a)))
                    .ok_or_else(|| {
                        VrrpError::Interface(cfg.interface.clone(), "no IPv4 address".into())
                    })?,
            ),
        };
        let sock = VrrpSocket::open(&cfg.interface, link.index, src, !peers.is_empty())?;
        let announcer = Announcer::open(&cfg.interface)?;
        let dests = if !peers.is_empty() {
            peers.clone()
        } else if v6 {
            vec![IpAddr::V6(GROUP_V6)]
        } else {
            vec![IpAddr::V4(GROUP_V4)]
        };
        let interval = cfg.advert_interval.get_ref().0;
        let eff = effective_priority(base_priority, penalty);
        let track_scripts = cfg
            .track_script
            .iter()
            .map(|t| TrackScriptStatus {
                name: t.get_ref().name.clone(),
                weight: Weight::new(t.get_ref().weight, t.get_ref().reverse),
                health: Health::Init,
            })
            .collect();
        let params = Params {
            version,
            priority: eff,
            adv_interval: cfg.advert_interval.get_ref().0,
            preempt: cfg.preempt,
            preempt_delay: cfg.preempt_delay.0,
            accept_mode: cfg.accept_mode,
            primary_ip: src,
        };
        let st = VrrpStatus {
            state: State::Initialize.name().into(),
            priority: base_priority,
            effective_priority: eff,
            master: None,
            vips: vips.iter().map(|v| v.to_string()).collect(),
            interface: cfg.interface.clone(),
            vrid,
            version: *cfg.version.get_ref(),
            transitions: 0,
            track_scripts,
        };
        status.store(Arc::new(st.clone()));
        metrics().vrrp_priority.set(i64::from(eff));
        set_state_metric(State::Initialize);
        info!(
            "vrrp: vrid {vrid} v{} on {} from {src}, priority {eff}, vips {:?}",
            st.version, cfg.interface, st.vips
        );
        let inst = Instance {
            vips: VipSet::new(link.index, vips)?,
            cfg,
            version,
            vrid,
            base_priority,
            sock,
            announcer,
            dests,
            filter: RecvFilter {
                vrid,
                version,
                own: src,
                peers,
                interval,
            },
            status,
            st,
            timer: None,
            garp_left: 0,
            garp_due: None,
            refresh_due: None,
            group_penalty: penalty,
            faulted: false,
            link_up: true,
        };
        Ok((inst, Fsm::new(params)))
    }

    /// Applies what tracking says now: the advertised priority, and fault when the interface is
    /// down or a weight-0 script fails.
    async fn retrack(&mut self, fsm: &mut Fsm) {
        let scripts = self.st.track_scripts.iter().map(|t| (t.weight, t.health));
        let Tracked { priority, fault } = tracked(self.base_priority, self.group_penalty, scripts);
        if priority != self.st.effective_priority {
            info!(
                "vrrp: effective priority {} -> {priority}",
                self.st.effective_priority
            );
            self.st.effective_priority = priority;
            self.publish();
        }
        metrics().vrrp_priority.set(i64::from(priority));
        self.apply(fsm, Event::PriorityChange(priority)).await;
        let faulted = !self.link_up || fault;
        if faulted != self.faulted {
            self.faulted = faulted;
            if fault && self.link_up {
                warn!("vrrp: a track script of weight 0 fails: fault");
            }
            let ev = if faulted {
                Event::InterfaceDown
            } else {
                Event::InterfaceUp
            };
            self.apply(fsm, ev).await;
        }
    }

    /// Turns a datagram into an event, or drops it (see [`RecvFilter`]).
    fn validate(&mut self, r: Received) -> Option<Event> {
        let (advert, interval) = match self.filter.check(&r) {
            Ok(x) => x,
            Err(Dropped::Own | Dropped::OtherVrid(_)) => return None,
            Err(e) => {
                debug!("vrrp: dropped packet from {}: {e}", r.src);
                return None;
            }
        };
        if advert.priority > 0 {
            let m = Some(r.src.to_string());
            if self.st.master != m && self.st.state == State::Backup.name() {
                self.st.master = m;
                self.publish();
            }
        }
        Some(Event::Advert {
            src: r.src,
            priority: advert.priority,
            max_adv_interval: interval,
        })
    }

    async fn apply(&mut self, fsm: &mut Fsm, ev: Event) {
        let from = fsm.state();
        let actions = fsm.handle(Instant::now(), ev);
        for a in actions {
            match a {
                Action::SendAdvert { priority } => self.send_advert(priority),
                Action::AddVips { accept } => {
                    if !accept {
                        debug!(
                            "vrrp: accept_mode off: the kernel still accepts traffic to the VIPs"
                        );
                    }
                    if let Err(e) = self.vips.add_all().await {
                        warn!("vrrp: {e}");
                    }
                }
                Action::RemoveVips => {
                    if let Err(e) = self.vips.remove_all().await {
                        warn!("vrrp: {e}");
                    }
                }
                Action::SendGarp => {
                    self.garp_left = self.cfg.garp_count.max(1);
                    self.announce_tick();
                }
                Action::SetTimer { at, .. } => self.timer = Some(at),
                Action::CancelTimer => self.timer = None,
                Action::Notify(to) => self.transition(from, to),
            }
        }
    }

    fn send_advert(&self, priority: u8) {
        let advert = Advert {
            version: self.version,
            vrid: self.vrid,
            priority,
            interval_cs: (self.cfg.advert_interval.get_ref().0.as_millis() / 10) as u16,
            addrs: self.vips.vips().iter().map(|v| v.addr()).collect(),
        };
        for dst in &self.dests {
            let sent = advert
                .encode(self.sock.src(), *dst)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
                .and_then(|b| self.sock.send(*dst, &b));
            if let Err(e) = sent {
                warn!("vrrp: sending advert to {dst}: {e}");
            }
        }
    }

    /// Sends due announcements: the rest of a `garp_count` burst, or a `garp_refresh` round.
    fn announce_tick(&mut self) {
        let now = Instant::now();
        let refresh = self.cfg.garp_refresh.0;
        if self.refresh_due.is_some_and(|t| t <= now) && self.garp_left == 0 {
            self.garp_left = 1;
        }
        while self.garp_left > 0 && self.garp_due.is_none_or(|t| t <= now) {
            for v in self.vips.vips() {
                if let Err(e) = self.announcer.announce(v.addr()) {
                    warn!("vrrp: announcing {}: {e}", v.addr());
                }
            }
            self.garp_left -= 1;
            let gap = self.cfg.garp_interval.0;
            self.garp_due = (self.garp_left > 0 && !gap.is_zero()).then(|| now + gap);
        }
        self.refresh_due = (!refresh.is_zero()).then(|| now + refresh);
    }

    fn transition(&mut self, from: State, to: State) {
        info!("vrrp: {} -> {}", from.name(), to.name());
        let m = metrics();
        m.vrrp_transitions_total
            .with_label_values(&[from.name(), to.name()])
            .inc();
        set_state_metric(to);
        if to != State::Master {
            self.garp_left = 0;
            self.garp_due = None;
            self.refresh_due = None;
        }
        self.st.state = to.name().into();
        self.st.transitions += 1;
        self.st.master = match to {
            State::Master => Some(self.sock.src().to_string()),
            _ => None,
        };
        self.publish();
        let hook = match to {
            State::Master => self.cfg.notify_master.as_ref(),
            State::Backup => self.cfg.notify_backup.as_ref(),
            State::Fault => self.cfg.notify_fault.as_ref(),
            State::Initialize => None,
        };
        if let Some(cmd) = hook {
            script::run_hook(cmd, &[], to.name());
        }
        if let Some(cmd) = &self.cfg.notify {
            let state = match to {
                State::Master => "MASTER",
                State::Backup => "BACKUP",
                State::Fault => "FAULT",
                State::Initialize => "STOP",
            };
            let args = script::notify_args(&self.cfg.name, state, self.st.effective_priority);
            script::run_hook(cmd, &args, to.name());
        }
    }

    fn publish(&self) {
        self.status.store(Arc::new(self.st.clone()));
    }
}

fn set_state_metric(current: State) {
    for s in STATES {
        metrics()
            .vrrp_state
            .with_label_values(&[s.name()])
            .set(i64::from(s == current));
    }
}
