//! The VRRP state machine of RFC 9568 §6.4, without I/O: `(state, event, now) → actions`.
//!
//! Time is passed in, timers are events, and the caller performs the returned actions in order.
//! Beyond the RFC: a `Fault` state (interface down, as keepalived), `preempt_delay`, and two
//! refinements that keep a single VIP holder while shortening the gap: on shutdown the master
//! keeps its VIPs for a little less than its own Skew_Time (no lower backup can take over sooner),
//! and a backup preempting a live master claims the VIPs shortly after its first advert (the old
//! master drops them on receipt).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::packet::Version;

/// Priority of the address owner (RFC 9568 §6.1).
pub const OWNER_PRIORITY: u8 = 255;

/// Protocol state; `Fault` is keepalived's (interface down), not the RFC's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    Initialize,
    Backup,
    Master,
    Fault,
}

impl State {
    /// The name used in the API, metrics and logs.
    pub fn name(self) -> &'static str {
        match self {
            State::Initialize => "init",
            State::Backup => "backup",
            State::Master => "master",
            State::Fault => "fault",
        }
    }
}

/// The one timer running at a time (RFC 9568 §6.2 Master_Down_Timer / Adver_Timer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    MasterDown,
    Advert,
    /// Shutdown: end of the wait for a successor before the VIPs are dropped anyway.
    Handover,
    /// Preemption: the old master has had time to drop the VIPs; add them now.
    Claim,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Startup,
    TimerFired(Timer),
    /// A valid advertisement for our VRID (already filtered by the I/O shell).
    Advert {
        src: IpAddr,
        priority: u8,
        max_adv_interval: Duration,
    },
    InterfaceUp,
    InterfaceDown,
    /// New effective priority (tracking).
    PriorityChange(u8),
    Shutdown,
}

/// What the caller must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    SendAdvert {
        priority: u8,
    },
    /// Configure the VIPs; `accept` is RFC 9568 Accept_Mode (always true for the owner).
    AddVips {
        accept: bool,
    },
    RemoveVips,
    /// Gratuitous ARP / unsolicited NA for every VIP.
    SendGarp,
    /// Arm the single timer (replaces any armed one).
    SetTimer {
        timer: Timer,
        at: Instant,
    },
    CancelTimer,
    /// The state changed to this one.
    Notify(State),
}

/// Static parameters of one virtual router.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    pub version: Version,
    /// Effective priority (1..=255); tracking changes it with `PriorityChange`.
    pub priority: u8,
    pub adv_interval: Duration,
    pub preempt: bool,
    pub preempt_delay: Duration,
    pub accept_mode: bool,
    /// Our primary address, for the tie-break on equal priority.
    pub primary_ip: IpAddr,
}

/// One virtual router's state machine.
#[derive(Debug, Clone)]
pub struct Fsm {
    p: Params,
    state: State,
    master_adv_interval: Duration,
    timer: Option<(Timer, Instant)>,
    /// Since when a lower-priority master has been tolerated (preempt_delay).
    lower_since: Option<Instant>,
    /// Last time a lower-priority master was heard (and ignored, to preempt it).
    lower_heard: Option<Instant>,
    /// Master, VIPs not yet added (preemption); the Adver_Timer deadline after the claim.
    claim: Option<Instant>,
    stopping: bool,
}

impl Fsm {
    /// A router in `Initialize`; feed it `Event::Startup`.
    pub fn new(p: Params) -> Fsm {
        Fsm {
            master_adv_interval: p.adv_interval,
            p,
            state: State::Initialize,
            timer: None,
            lower_since: None,
            lower_heard: None,
            claim: None,
            stopping: false,
        }
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The armed timer, if any.
    pub fn timer(&self) -> Option<(Timer, Instant)> {
        self.timer
    }

    /// Current effective priority.
    pub fn priority(&self) -> u8 {
        self.p.priority
    }

    /// True once a shutdown has completed (back in `Initialize` after `Shutdown`).
    pub fn stopped(&self) -> bool {
        self.stopping && self.state == State::Initialize
    }

    /// RFC 9568 §6.1: Skew_Time = ((256 - Priority) * Master_Adver_Interval) / 256, in centiseconds
    /// as keepalived computes it; v2 (RFC 3768 §6.1) uses (256 - Priority) / 256 seconds.
    pub fn skew_time(&self) -> Duration {
        self.skew_for(self.p.priority, self.master_adv_interval)
    }

    fn skew_for(&self, priority: u8, interval: Duration) -> Duration {
        let p = 256 - u64::from(priority);
        match self.p.version {
            Version::V3 => {
                let cs = interval.as_millis() as u64 / 10;
                Duration::from_millis(p * cs / 256 * 10)
            }
            Version::V2 => Duration::from_micros(p * 1_000_000 / 256),
        }
    }

    /// RFC 9568 §6.1: Master_Down_Interval = (3 * Master_Adver_Interval) + Skew_Time.
    pub fn master_down_interval(&self) -> Duration {
        3 * self.master_adv_interval + self.skew_time()
    }

    /// Handles one event at time `now`, returning the actions to perform in order.
    pub fn handle(&mut self, now: Instant, ev: Event) -> Vec<Action> {
        let mut out = Vec::new();
        match (self.state, ev) {
            (State::Initialize, Event::Startup) | (State::Fault, Event::InterfaceUp) => {
                self.start(now, &mut out)
            }
            (_, Event::Shutdown) => self.shutdown(now, &mut out),
            (State::Backup | State::Master, Event::InterfaceDown) => {
                if self.state == State::Master {
                    out.push(Action::RemoveVips);
                }
                self.arm(None, &mut out);
                let next = if self.stopping {
                    State::Initialize
                } else {
                    State::Fault
                };
                self.go(next, &mut out);
            }
            (_, Event::PriorityChange(prio)) => self.priority_change(now, prio, &mut out),
            (State::Backup, Event::TimerFired(Timer::MasterDown)) => {
                self.become_master(now, &mut out)
            }
            (State::Master, Event::TimerFired(Timer::Advert)) if !self.stopping => {
                out.push(Action::SendAdvert {
                    priority: self.p.priority,
                });
                self.arm(Some((Timer::Advert, now + self.p.adv_interval)), &mut out);
            }
            (State::Master, Event::TimerFired(Timer::Claim)) => {
                if let Some(next) = self.claim.take() {
                    self.claim_vips(&mut out);
                    self.arm(Some((Timer::Advert, next)), &mut out);
                }
            }
            (State::Master, Event::TimerFired(Timer::Handover)) if self.stopping => {
                out.push(Action::RemoveVips);
                self.timer = None;
                self.go(State::Initialize, &mut out);
            }
            (
                State::Backup,
                Event::Advert {
                    src,
                    priority,
                    max_adv_interval,
                },
            ) => self.backup_advert(now, src, priority, max_adv_interval, &mut out),
            (
                State::Master,
                Event::Advert {
                    src,
                    priority,
                    max_adv_interval,
                },
            ) => self.master_advert(now, src, priority, max_adv_interval, &mut out),
            _ => {}
        }
        out
    }

    fn go(&mut self, to: State, out: &mut Vec<Action>) {
        if self.state != to {
            self.state = to;
            self.lower_since = None;
            self.lower_heard = None;
            self.claim = None;
            out.push(Action::Notify(to));
        }
    }

    fn arm(&mut self, timer: Option<(Timer, Instant)>, out: &mut Vec<Action>) {
        self.timer = timer;
        out.push(match timer {
            Some((timer, at)) => Action::SetTimer { timer, at },
            None => Action::CancelTimer,
        });
    }

    fn start(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.p.priority == OWNER_PRIORITY {
            // §6.4.1: the owner sends an advert, announces its addresses and becomes Master.
            self.become_master(now, out);
        } else {
            // §6.4.1: otherwise Master_Down_Timer = Master_Down_Interval, to Backup.
            self.master_adv_interval = self.p.adv_interval;
            self.arm(
                Some((Timer::MasterDown, now + self.master_down_interval())),
                out,
            );
            self.go(State::Backup, out);
        }
    }

    fn become_master(&mut self, now: Instant, out: &mut Vec<Action>) {
        // §6.4.2: send an ADVERTISEMENT, broadcast gratuitous ARP / unsolicited NA, Adver_Timer.
        out.push(Action::SendAdvert {
            priority: self.p.priority,
        });
        let next_advert = now + self.p.adv_interval;
        let live_lower = self
            .lower_heard
            .is_some_and(|t| now.duration_since(t) < self.master_down_interval());
        if live_lower {
            // Preempting a live master: it drops the VIPs when our advert arrives; claim them
            // a moment later so that the two never hold them together.
            let delay = (self.p.adv_interval / 10).min(Duration::from_millis(20));
            self.arm(Some((Timer::Claim, now + delay)), out);
            self.go(State::Master, out);
            self.claim = Some(next_advert);
            return;
        }
        self.claim_vips(out);
        self.arm(Some((Timer::Advert, next_advert)), out);
        self.go(State::Master, out);
    }

    fn claim_vips(&mut self, out: &mut Vec<Action>) {
        let accept = self.p.accept_mode || self.p.priority == OWNER_PRIORITY;
        out.push(Action::AddVips { accept });
        out.push(Action::SendGarp);
    }

    fn shutdown(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.stopping {
            return;
        }
        self.stopping = true;
        if self.state == State::Master {
            // §6.4.3: send an ADVERTISEMENT with Priority = 0. A backup takes over after its
            // Skew_Time, never shorter than ours when its priority is lower: keep serving the
            // VIPs until a little before that (or until a successor advertises), then drop them.
            out.push(Action::SendAdvert { priority: 0 });
            let own_skew = self.skew_for(self.p.priority, self.p.adv_interval);
            let wait = own_skew.saturating_sub(self.p.adv_interval / 50);
            if wait.is_zero() {
                out.push(Action::RemoveVips);
                self.arm(None, out);
                self.go(State::Initialize, out);
            } else {
                self.arm(Some((Timer::Handover, now + wait)), out);
            }
        } else {
            self.arm(None, out);
            self.go(State::Initialize, out);
        }
    }

    fn priority_change(&mut self, now: Instant, prio: u8, out: &mut Vec<Action>) {
        if prio == self.p.priority || self.p.priority == OWNER_PRIORITY || prio == 0 {
            return;
        }
        self.p.priority = prio;
        if self.state == State::Master && !self.stopping {
            // Tell the backups at once so that a better one can preempt.
            out.push(Action::SendAdvert { priority: prio });
            if self.claim.is_none() {
                self.arm(Some((Timer::Advert, now + self.p.adv_interval)), out);
            }
        }
    }

    fn backup_advert(
        &mut self,
        now: Instant,
        _src: IpAddr,
        prio: u8,
        adv: Duration,
        out: &mut Vec<Action>,
    ) {
        if prio == 0 {
            // §6.4.2: "If the Priority in the ADVERTISEMENT is zero, then: Set the
            // Master_Down_Timer to Skew_Time."
            self.arm(Some((Timer::MasterDown, now + self.skew_time())), out);
            return;
        }
        let lower = self.p.preempt && prio < self.p.priority;
        if lower {
            let since = *self.lower_since.get_or_insert(now);
            if now.duration_since(since) >= self.p.preempt_delay {
                // §6.4.2: Preempt_Mode and a lower priority: discard, let the timer expire.
                self.lower_heard = Some(now);
                return;
            }
        } else {
            self.lower_since = None;
        }
        // §6.4.2: Master_Adver_Interval from the packet, recompute, reset Master_Down_Timer.
        self.master_adv_interval = adv;
        self.arm(
            Some((Timer::MasterDown, now + self.master_down_interval())),
            out,
        );
    }

    fn master_advert(
        &mut self,
        now: Instant,
        src: IpAddr,
        prio: u8,
        adv: Duration,
        out: &mut Vec<Action>,
    ) {
        if self.stopping {
            // A successor speaks: hand the addresses over now.
            if prio > 0 {
                out.push(Action::RemoveVips);
                self.arm(None, out);
                self.go(State::Initialize, out);
            }
            return;
        }
        if prio == 0 {
            // §6.4.3: another master left: send an ADVERTISEMENT, reset the Adver_Timer.
            out.push(Action::SendAdvert {
                priority: self.p.priority,
            });
            if self.claim.is_none() {
                self.arm(Some((Timer::Advert, now + self.p.adv_interval)), out);
            }
            return;
        }
        // §6.4.3: greater priority, or equal priority and greater primary address, wins.
        let wins = prio > self.p.priority || (prio == self.p.priority && src > self.p.primary_ip);
        if wins {
            out.push(Action::RemoveVips);
            self.master_adv_interval = adv;
            self.arm(
                Some((Timer::MasterDown, now + self.master_down_interval())),
                out,
            );
            self.go(State::Backup, out);
        }
    }
}

#[cfg(test)]
#[path = "fsm_tests.rs"]
mod tests;
