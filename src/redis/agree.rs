//! Which node is the Redis master, from what the sentinels say and what the nodes answer to `ROLE`.
//!
//! Pure logic, no I/O: the monitor feeds it one polling round at a time.
//!
//! Rules:
//! 1. A node becomes (or stays) the master only if a majority of the *configured* sentinels name it
//!    and it answers `ROLE` with `master`. One stale or lying sentinel can never move traffic.
//! 2. Without a majority (sentinels down or disagreeing), the last verified master is kept while it
//!    still says `master`; otherwise there is no master. One failed `ROLE` check of the master in
//!    use (no answer, as opposed to a `slave` answer) is forgiven: it takes two in a row to drop it,
//!    so one slow reply does not close every session.
//! 3. Two masters: if a node that the chosen master listed as its replica in an earlier round now
//!    says `master`, a failover is under way (Sentinel promoted it). The chosen node is *fenced*: no
//!    traffic goes to it until the sentinels' majority moves elsewhere or the rival stops being a
//!    master. This is what keeps writes off an old master that still says `role:master` for
//!    seconds after `SENTINEL FAILOVER`.
//! 4. A failover announced by a sentinel (`+selected-slave`, published one Sentinel tick before it
//!    sends `REPLICAOF NO ONE`) fences the master at once, before the promotion, for a bounded
//!    time (`until`); once the replica says `master`, rule 3 holds the fence. An abort lifts it.
//!    A lying sentinel can at worst hold clients for that bounded time, never move them.

use std::collections::HashMap;
use std::fmt;
use std::time::Instant;

/// What one sentinel answered this round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// No answer (connect failed, timeout, error reply).
    Unreachable,
    /// Answered, but does not know the master name.
    Unknown,
    /// Names this `host:port` as the master.
    Master(String),
}

/// What a node answered to `ROLE` this round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// `role:master`, with the replicas it lists.
    Master(Vec<String>),
    /// A replica (or anything that is not a master).
    NotMaster,
    /// No usable answer.
    Unreachable,
}

/// Why the decision is what it is (shown in the status API and logs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// A majority names it and it says `master`.
    Majority,
    /// No majority, but the last verified master still says `master`.
    KeptWithoutMajority,
    /// The majority's node does not answer `ROLE` with `master`.
    NotMaster(String),
    /// A replica of the candidate says `master` too: failover in progress.
    TwoMasters {
        /// The node the sentinels (or the last round) chose.
        fenced: String,
        /// Its former replica that now says `master`.
        rival: String,
    },
    /// No majority and nothing verified to keep.
    NoMajority,
    /// The master in use missed one `ROLE` check; kept until the next one.
    MissedOneCheck,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Majority => f.write_str("a majority of sentinels agree and ROLE says master"),
            Reason::KeptWithoutMajority => {
                f.write_str("no sentinel majority; last verified master still says master")
            }
            Reason::NotMaster(a) => write!(f, "sentinels' master {a} does not say role:master"),
            Reason::TwoMasters { fenced, rival } => write!(
                f,
                "failover in progress: {rival} (replica of {fenced}) is promoted; waiting for the sentinels"
            ),
            Reason::NoMajority => f.write_str("no sentinel majority and no verified master"),
            Reason::MissedOneCheck => {
                f.write_str("master missed one ROLE check; kept until the next one")
            }
        }
    }
}

/// The outcome of one round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Where new sessions go; `None` = hold clients.
    pub master: Option<String>,
    /// Why.
    pub reason: Reason,
}

/// Majority of `configured` sentinels.
pub fn quorum(configured: usize) -> usize {
    configured / 2 + 1
}

/// The address named by at least a majority of the configured sentinels, with its vote count.
pub fn majority(configured: usize, reports: &[Report]) -> Option<(&str, usize)> {
    let mut votes: Vec<(&str, usize)> = Vec::new();
    for r in reports {
        if let Report::Master(a) = r {
            match votes.iter_mut().find(|(v, _)| v == a) {
                Some((_, n)) => *n += 1,
                None => votes.push((a, 1)),
            }
        }
    }
    votes.into_iter().find(|(_, n)| *n >= quorum(configured))
}

/// State carried between rounds: replicas each master listed last time, and the fence.
#[derive(Debug, Default, Clone)]
pub struct Agreement {
    replicas_of: HashMap<String, Vec<String>>,
    fence: Option<Fence>,
    /// Consecutive rounds the master in use did not answer `ROLE`.
    strikes: u32,
}

/// A master that must not get traffic because `rival` is (or is about to be) promoted.
#[derive(Debug, Clone)]
struct Fence {
    fenced: String,
    rival: String,
    /// Set for an announced failover that the rival's `ROLE` has not confirmed yet.
    announced_until: Option<Instant>,
}

impl Agreement {
    /// Addresses to check with `ROLE` this round: the ones sentinels name, the last verified
    /// master, its known replicas (to see a promotion early) and any hinted address.
    pub fn to_check(
        &self,
        reports: &[Report],
        current: Option<&str>,
        hinted: &[String],
    ) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut add = |a: &str| {
            if !out.iter().any(|x| x == a) {
                out.push(a.to_string());
            }
        };
        for r in reports {
            if let Report::Master(a) = r {
                add(a);
            }
        }
        if let Some(c) = current {
            add(c);
            for r in self.replicas_of.get(c).into_iter().flatten() {
                add(r);
            }
        }
        if let Some(f) = &self.fence {
            add(&f.fenced);
            add(&f.rival);
        }
        for h in hinted {
            add(h);
        }
        out
    }

    /// A sentinel announced it is promoting `replica` of `master`: fence `master` until `until`
    /// unless the replica's `ROLE` confirms the promotion first.
    pub fn failover_announced(&mut self, master: &str, replica: &str, until: Instant) {
        self.fence = Some(Fence {
            fenced: master.to_string(),
            rival: replica.to_string(),
            announced_until: Some(until),
        });
    }

    /// A sentinel aborted its failover: drop a fence that no promotion confirmed.
    pub fn failover_aborted(&mut self) {
        if self
            .fence
            .as_ref()
            .is_some_and(|f| f.announced_until.is_some())
        {
            self.fence = None;
        }
    }

    /// Whether `addr` is fenced now.
    pub fn is_fenced(&self, addr: &str) -> bool {
        self.fence.as_ref().is_some_and(|f| f.fenced == addr)
    }

    /// Decides one round. `current` is the master in use now (if any); `roles` holds the `ROLE`
    /// results of this round (addresses not checked are treated as unreachable).
    pub fn decide(
        &mut self,
        configured: usize,
        reports: &[Report],
        current: Option<&str>,
        roles: &HashMap<String, Seen>,
        now: Instant,
    ) -> Decision {
        let says_master = |a: &str| matches!(roles.get(a), Some(Seen::Master(_)));
        let silent = |a: &str| matches!(roles.get(a), Some(Seen::Unreachable) | None);
        let forgiven = |a: &str| current == Some(a) && silent(a) && self.strikes == 0;
        let usable = |a: &str| says_master(a) || forgiven(a);
        let agreed = majority(configured, reports).map(|(a, _)| a.to_string());
        if let Some(f) = &mut self.fence {
            let moved_away = agreed.as_deref().is_some_and(|a| a != f.fenced);
            if says_master(&f.rival) {
                f.announced_until = None;
            }
            let announced = f.announced_until.is_some_and(|t| now < t);
            if moved_away || !(says_master(&f.rival) || announced) {
                self.fence = None;
            }
        }
        let decision = match agreed {
            Some(a) if !usable(&a) => Decision {
                master: None,
                reason: Reason::NotMaster(a),
            },
            Some(a) => self.unless_two_masters(a, Reason::Majority, roles),
            None => match current {
                Some(c) if usable(c) => {
                    self.unless_two_masters(c.to_string(), Reason::KeptWithoutMajority, roles)
                }
                _ => Decision {
                    master: None,
                    reason: Reason::NoMajority,
                },
            },
        };
        let mut decision = decision;
        self.strikes = match decision.master.as_deref() {
            Some(m) if silent(m) => {
                decision.reason = Reason::MissedOneCheck;
                self.strikes + 1
            }
            _ => 0,
        };
        // Keep only what this round saw (an unreachable node keeps its last list): a stale list
        // from long ago must not fence a node after a later fail-back.
        let mut replicas_of = HashMap::new();
        for (addr, seen) in roles {
            match seen {
                Seen::Master(replicas) => {
                    replicas_of.insert(addr.clone(), replicas.clone());
                }
                Seen::Unreachable => {
                    if let Some(old) = self.replicas_of.remove(addr) {
                        replicas_of.insert(addr.clone(), old);
                    }
                }
                Seen::NotMaster => {}
            }
        }
        self.replicas_of = replicas_of;
        decision
    }

    fn unless_two_masters(
        &mut self,
        chosen: String,
        reason: Reason,
        roles: &HashMap<String, Seen>,
    ) -> Decision {
        let known = self.replicas_of.get(&chosen);
        let rival = roles.iter().find(|(addr, seen)| {
            **addr != chosen
                && matches!(seen, Seen::Master(_))
                && known.is_some_and(|k| k.contains(addr))
        });
        if let Some((rival, _)) = rival {
            self.fence = Some(Fence {
                fenced: chosen.clone(),
                rival: rival.clone(),
                announced_until: None,
            });
        }
        match &self.fence {
            Some(f) if f.fenced == chosen => Decision {
                master: None,
                reason: Reason::TwoMasters {
                    fenced: f.fenced.clone(),
                    rival: f.rival.clone(),
                },
            },
            _ => Decision {
                master: Some(chosen),
                reason,
            },
        }
    }
}

#[cfg(test)]
#[path = "agree_tests.rs"]
mod tests;
