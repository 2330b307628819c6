//! Track scripts without I/O: each run's outcome through `rise`/`fall`, and what the scripts
//! and the tracked groups make of the priority, as keepalived computes it.

use super::effective_priority;

/// What a track script says about this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// No result yet: neither adds, subtracts nor faults.
    Init,
    Ok,
    Failing,
}

/// `rise` successes (`fall` failures) in a row turn a script OK (failing); the first result
/// after start decides at once, as keepalived does.
#[derive(Debug, Clone)]
pub struct Tracker {
    rise: u32,
    fall: u32,
    health: Health,
    /// Results in a row that disagree with `health`.
    streak: u32,
}

impl Tracker {
    pub fn new(rise: u32, fall: u32) -> Tracker {
        Tracker {
            rise: rise.max(1),
            fall: fall.max(1),
            health: Health::Init,
            streak: 0,
        }
    }

    pub fn health(&self) -> Health {
        self.health
    }

    /// Records one run; returns the new health when it changed.
    pub fn record(&mut self, success: bool) -> Option<Health> {
        let (agrees, needed, next) = match (self.health, success) {
            (Health::Init, true) => (false, 1, Health::Ok),
            (Health::Init, false) => (false, 1, Health::Failing),
            (Health::Ok, ok) => (ok, self.fall, Health::Failing),
            (Health::Failing, ok) => (!ok, self.rise, Health::Ok),
        };
        if agrees {
            self.streak = 0;
            return None;
        }
        self.streak += 1;
        if self.streak < needed {
            return None;
        }
        self.streak = 0;
        self.health = next;
        Some(next)
    }
}

/// The priority to advertise and whether tracking puts the instance in fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tracked {
    pub priority: u8,
    pub fault: bool,
}

/// How one track script moves the priority: keepalived's `weight W [reverse]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Weight {
    pub weight: i32,
    /// keepalived's `reverse`: the adjustment goes the other way (`weight 10 reverse`
    /// subtracts 10 while the script succeeds).
    pub reverse: bool,
}

impl Weight {
    pub fn new(weight: i32, reverse: bool) -> Weight {
        Weight { weight, reverse }
    }
}

/// keepalived's rule: a script of `weight > 0` adds it while OK, `weight < 0` adds it (lowers)
/// while failing, `weight = 0` faults the instance while failing; `reverse` negates what is
/// added. `group_penalty` is the sum of the weights of the failing `track` groups. The result
/// stays within 1..=254; the address owner (255) keeps its priority.
pub fn tracked(
    base: u8,
    group_penalty: i32,
    scripts: impl IntoIterator<Item = (Weight, Health)>,
) -> Tracked {
    let mut delta = group_penalty;
    let mut fault = false;
    for (Weight { weight, reverse }, health) in scripts {
        let sign = if reverse { -1 } else { 1 };
        match (health, weight.signum()) {
            (Health::Ok, 1) | (Health::Failing, -1) => delta += sign * weight,
            (Health::Failing, 0) => fault = true,
            _ => {}
        }
    }
    Tracked {
        priority: effective_priority(base, delta),
        fault,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(scripts: &[(i32, Health)]) -> Vec<(Weight, Health)> {
        scripts
            .iter()
            .map(|&(weight, h)| (Weight::new(weight, false), h))
            .collect()
    }

    #[test]
    fn reverse_turns_the_adjustment_around() {
        use Health::*;
        let p = |weight, h| tracked(100, 0, [(Weight::new(weight, true), h)]).priority;
        // weight 10 reverse: subtracted while OK, nothing while failing.
        assert_eq!(p(10, Ok), 90);
        assert_eq!(p(10, Failing), 100);
        // weight -10 reverse: added while failing, nothing while OK.
        assert_eq!(p(-10, Failing), 110);
        assert_eq!(p(-10, Ok), 100);
        assert_eq!(p(10, Init), 100);
        // weight 0 reverse still faults while failing.
        assert!(tracked(100, 0, [(Weight::new(0, true), Failing)]).fault);
    }

    #[test]
    fn first_result_decides_then_rise_and_fall() {
        let mut t = Tracker::new(2, 3);
        assert_eq!(t.health(), Health::Init);
        assert_eq!(t.record(false), Some(Health::Failing));
        assert_eq!(t.record(true), None);
        assert_eq!(t.record(false), None, "a failure resets the rise streak");
        assert_eq!(t.record(true), None);
        assert_eq!(t.record(true), Some(Health::Ok));
        assert_eq!(t.record(false), None);
        assert_eq!(t.record(false), None);
        assert_eq!(t.record(true), None, "a success resets the fall streak");
        assert_eq!(t.record(false), None);
        assert_eq!(t.record(false), None);
        assert_eq!(t.record(false), Some(Health::Failing));
        let mut t = Tracker::new(1, 1);
        assert_eq!(t.record(true), Some(Health::Ok));
        assert_eq!(t.record(true), None);
        assert_eq!(t.record(false), Some(Health::Failing));
    }

    #[test]
    fn weights_move_the_priority_as_keepalived() {
        use Health::*;
        let p = |scripts: &[(i32, Health)]| tracked(100, 0, w(scripts));
        assert_eq!(
            p(&[]),
            Tracked {
                priority: 100,
                fault: false
            }
        );
        // weight > 0: added while OK only.
        assert_eq!(p(&[(20, Ok)]).priority, 120);
        assert_eq!(p(&[(20, Failing)]).priority, 100);
        assert_eq!(p(&[(20, Init)]).priority, 100);
        // weight < 0: subtracted while failing only.
        assert_eq!(p(&[(-30, Failing)]).priority, 70);
        assert_eq!(p(&[(-30, Ok)]).priority, 100);
        assert_eq!(p(&[(-30, Init)]).priority, 100);
        // weight 0: fault while failing, the priority untouched.
        assert_eq!(
            p(&[(0, Failing)]),
            Tracked {
                priority: 100,
                fault: true
            }
        );
        assert!(!p(&[(0, Ok)]).fault);
        assert!(!p(&[(0, Init)]).fault);
        // Together with the failing groups' weights, kept within 1..=254.
        assert_eq!(
            tracked(100, -50, w(&[(20, Ok), (-30, Failing)])).priority,
            40
        );
        assert_eq!(tracked(250, 0, w(&[(20, Ok)])).priority, 254);
        assert_eq!(tracked(10, -50, w(&[(-30, Failing)])).priority, 1);
        // The address owner is never moved, but still faults.
        assert_eq!(
            tracked(255, -50, w(&[(-30, Failing), (0, Failing)])),
            Tracked {
                priority: 255,
                fault: true
            }
        );
    }
}
