use super::*;
use std::net::Ipv4Addr;

const ME: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 12));
const LOWER_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 11));
const HIGHER_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 13));

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn params(priority: u8) -> Params {
    Params {
        version: Version::V3,
        priority,
        adv_interval: ms(100),
        preempt: true,
        preempt_delay: Duration::ZERO,
        accept_mode: false,
        primary_ip: ME,
    }
}

fn advert(src: IpAddr, priority: u8) -> Event {
    Event::Advert {
        src,
        priority,
        max_adv_interval: ms(100),
    }
}

fn master_actions(prio: u8, at: Instant, accept: bool) -> Vec<Action> {
    vec![
        Action::SendAdvert { priority: prio },
        Action::AddVips { accept },
        Action::SendGarp,
        Action::SetTimer {
            timer: Timer::Advert,
            at,
        },
        Action::Notify(State::Master),
    ]
}

/// A started backup at priority `prio` and the start instant.
fn backup(p: Params) -> (Fsm, Instant) {
    let t0 = Instant::now();
    let mut f = Fsm::new(p);
    f.handle(t0, Event::Startup);
    assert_eq!(f.state(), State::Backup);
    (f, t0)
}

#[test]
fn timers_follow_rfc_formulas() {
    // prio 100, 100 ms: skew = 156 * 10cs / 256 = 6cs; master-down = 300 + 60 ms.
    let (f, _) = backup(params(100));
    assert_eq!(f.skew_time(), ms(60));
    assert_eq!(f.master_down_interval(), ms(360));
    let (f, _) = backup(params(254));
    assert_eq!(f.skew_time(), ms(0));
    let mut v2 = params(100);
    v2.version = Version::V2;
    v2.adv_interval = ms(1000);
    let (f, _) = backup(v2);
    assert_eq!(f.skew_time(), Duration::from_micros(609_375));
}

#[test]
fn startup_goes_backup_with_master_down_timer() {
    let t0 = Instant::now();
    let mut f = Fsm::new(params(100));
    assert_eq!(
        f.handle(t0, Event::Startup),
        vec![
            Action::SetTimer {
                timer: Timer::MasterDown,
                at: t0 + ms(360)
            },
            Action::Notify(State::Backup),
        ]
    );
}

#[test]
fn owner_goes_master_at_once() {
    let t0 = Instant::now();
    let mut f = Fsm::new(params(255));
    assert_eq!(
        f.handle(t0, Event::Startup),
        master_actions(255, t0 + ms(100), true)
    );
    // The owner ignores tracking.
    assert_eq!(f.handle(t0, Event::PriorityChange(100)), vec![]);
    assert_eq!(f.priority(), 255);
}

#[test]
fn master_down_timer_makes_master_then_adverts_repeat() {
    let (mut f, t0) = backup(params(100));
    let t = t0 + ms(360);
    assert_eq!(
        f.handle(t, Event::TimerFired(Timer::MasterDown)),
        master_actions(100, t + ms(100), false)
    );
    let t2 = t + ms(100);
    assert_eq!(
        f.handle(t2, Event::TimerFired(Timer::Advert)),
        vec![
            Action::SendAdvert { priority: 100 },
            Action::SetTimer {
                timer: Timer::Advert,
                at: t2 + ms(100)
            }
        ]
    );
    // A stale timer kind is ignored.
    assert_eq!(f.handle(t2, Event::TimerFired(Timer::MasterDown)), vec![]);
}

#[test]
fn backup_resets_timer_on_higher_or_equal_advert_and_adopts_interval() {
    let (mut f, t0) = backup(params(100));
    let t = t0 + ms(50);
    let ev = Event::Advert {
        src: LOWER_IP,
        priority: 150,
        max_adv_interval: ms(1000),
    };
    // 3 * 1000 + 156 * 100cs / 256 = 60cs.
    assert_eq!(
        f.handle(t, ev),
        vec![Action::SetTimer {
            timer: Timer::MasterDown,
            at: t + ms(3600)
        }]
    );
}

#[test]
fn backup_discards_lower_advert_when_preempting() {
    let (mut f, t0) = backup(params(100));
    assert_eq!(f.handle(t0 + ms(10), advert(HIGHER_IP, 50)), vec![]);
    assert_eq!(f.timer(), Some((Timer::MasterDown, t0 + ms(360))));
}

#[test]
fn backup_without_preempt_follows_lower_master() {
    let mut p = params(100);
    p.preempt = false;
    let (mut f, t0) = backup(p);
    let t = t0 + ms(10);
    assert_eq!(
        f.handle(t, advert(HIGHER_IP, 50)),
        vec![Action::SetTimer {
            timer: Timer::MasterDown,
            at: t + ms(360)
        }]
    );
}

#[test]
fn preempt_delay_tolerates_lower_master_for_a_while() {
    let mut p = params(100);
    p.preempt_delay = ms(1000);
    let (mut f, t0) = backup(p);
    let first = t0 + ms(10);
    assert_eq!(f.handle(first, advert(LOWER_IP, 50)).len(), 1);
    assert_eq!(f.handle(first + ms(990), advert(LOWER_IP, 50)).len(), 1);
    assert_eq!(f.handle(first + ms(1000), advert(LOWER_IP, 50)), vec![]);
}

#[test]
fn priority_zero_makes_backup_wait_skew_time_only() {
    let (mut f, t0) = backup(params(100));
    let t = t0 + ms(20);
    assert_eq!(
        f.handle(t, advert(LOWER_IP, 0)),
        vec![Action::SetTimer {
            timer: Timer::MasterDown,
            at: t + ms(60)
        }]
    );
}

fn master(p: Params) -> (Fsm, Instant) {
    let (mut f, t0) = backup(p);
    let t = t0 + ms(360);
    f.handle(t, Event::TimerFired(Timer::MasterDown));
    assert_eq!(f.state(), State::Master);
    (f, t)
}

#[test]
fn master_yields_to_higher_priority() {
    let (mut f, t) = master(params(100));
    assert_eq!(
        f.handle(t, advert(LOWER_IP, 101)),
        vec![
            Action::RemoveVips,
            Action::SetTimer {
                timer: Timer::MasterDown,
                at: t + ms(360)
            },
            Action::Notify(State::Backup),
        ]
    );
}

#[test]
fn master_tie_break_on_primary_address() {
    let (mut f, t) = master(params(100));
    assert_eq!(f.handle(t, advert(LOWER_IP, 100)), vec![]);
    assert_eq!(f.handle(t, advert(HIGHER_IP, 99)), vec![]);
    let acts = f.handle(t, advert(HIGHER_IP, 100));
    assert_eq!(acts[0], Action::RemoveVips);
    assert_eq!(f.state(), State::Backup);
}

#[test]
fn master_answers_priority_zero_with_an_advert() {
    let (mut f, t) = master(params(100));
    assert_eq!(
        f.handle(t, advert(LOWER_IP, 0)),
        vec![
            Action::SendAdvert { priority: 100 },
            Action::SetTimer {
                timer: Timer::Advert,
                at: t + ms(100)
            }
        ]
    );
}

#[test]
fn master_shutdown_sends_zero_and_hands_over() {
    let (mut f, t) = master(params(100));
    assert_eq!(
        f.handle(t, Event::Shutdown),
        vec![
            Action::SendAdvert { priority: 0 },
            Action::SetTimer {
                timer: Timer::Handover,
                at: t + ms(58)
            }
        ]
    );
    assert!(!f.stopped());
    // No more adverts of ours; a successor's advert releases the VIPs at once.
    assert_eq!(f.handle(t, Event::TimerFired(Timer::Advert)), vec![]);
    assert_eq!(
        f.handle(t + ms(61), advert(LOWER_IP, 50)),
        vec![
            Action::RemoveVips,
            Action::CancelTimer,
            Action::Notify(State::Initialize)
        ]
    );
    assert!(f.stopped());
}

#[test]
fn master_shutdown_without_successor_releases_at_deadline() {
    let (mut f, t) = master(params(100));
    f.handle(t, Event::Shutdown);
    assert_eq!(
        f.handle(t + ms(58), Event::TimerFired(Timer::Handover)),
        vec![Action::RemoveVips, Action::Notify(State::Initialize)]
    );
    assert!(f.stopped());
}

#[test]
fn backup_shutdown_is_immediate() {
    let (mut f, t0) = backup(params(100));
    assert_eq!(
        f.handle(t0, Event::Shutdown),
        vec![Action::CancelTimer, Action::Notify(State::Initialize)]
    );
    assert!(f.stopped());
}

#[test]
fn interface_down_faults_and_up_restarts() {
    let (mut f, t) = master(params(100));
    assert_eq!(
        f.handle(t, Event::InterfaceDown),
        vec![
            Action::RemoveVips,
            Action::CancelTimer,
            Action::Notify(State::Fault)
        ]
    );
    assert_eq!(f.handle(t, advert(LOWER_IP, 200)), vec![]);
    assert_eq!(f.handle(t, Event::TimerFired(Timer::MasterDown)), vec![]);
    let t2 = t + ms(5);
    assert_eq!(
        f.handle(t2, Event::InterfaceUp),
        vec![
            Action::SetTimer {
                timer: Timer::MasterDown,
                at: t2 + ms(360)
            },
            Action::Notify(State::Backup)
        ]
    );
}

#[test]
fn priority_change_in_master_is_advertised_at_once() {
    let (mut f, t) = master(params(150));
    assert_eq!(
        f.handle(t, Event::PriorityChange(50)),
        vec![
            Action::SendAdvert { priority: 50 },
            Action::SetTimer {
                timer: Timer::Advert,
                at: t + ms(100)
            }
        ]
    );
    assert_eq!(f.handle(t, Event::PriorityChange(50)), vec![]);
    // Now a priority-100 peer outranks us.
    assert_eq!(f.handle(t, advert(LOWER_IP, 100))[0], Action::RemoveVips);
}

#[test]
fn priority_change_in_backup_changes_skew() {
    let (mut f, t0) = backup(params(100));
    assert_eq!(f.handle(t0, Event::PriorityChange(200)), vec![]);
    // 56 * 10 / 256 = 2cs.
    assert_eq!(f.skew_time(), ms(20));
}

#[test]
fn master_without_lower_backups_releases_at_once_on_shutdown() {
    // Priority 254: Skew_Time 0, any backup may take over at once.
    let (mut f, t) = master(params(254));
    assert_eq!(
        f.handle(t, Event::Shutdown),
        vec![
            Action::SendAdvert { priority: 0 },
            Action::RemoveVips,
            Action::CancelTimer,
            Action::Notify(State::Initialize)
        ]
    );
    assert!(f.stopped());
}

#[test]
fn preempting_a_live_master_claims_the_vips_after_a_moment() {
    let (mut f, t0) = backup(params(200));
    let heard = t0 + ms(100);
    assert_eq!(f.handle(heard, advert(LOWER_IP, 100)), vec![]);
    // Master-down for priority 200: 300 + 56 * 10 / 256 cs = 320 ms.
    let t = t0 + ms(320);
    assert_eq!(
        f.handle(t, Event::TimerFired(Timer::MasterDown)),
        vec![
            Action::SendAdvert { priority: 200 },
            Action::SetTimer {
                timer: Timer::Claim,
                at: t + ms(10)
            },
            Action::Notify(State::Master),
        ]
    );
    // The old master's last advert before it heard ours changes nothing.
    assert_eq!(f.handle(t + ms(1), advert(LOWER_IP, 100)), vec![]);
    assert_eq!(
        f.handle(t + ms(10), Event::TimerFired(Timer::Claim)),
        vec![
            Action::AddVips { accept: false },
            Action::SendGarp,
            Action::SetTimer {
                timer: Timer::Advert,
                at: t + ms(100)
            },
        ]
    );
    // A stale claim is ignored.
    assert_eq!(
        f.handle(t + ms(20), Event::TimerFired(Timer::Claim)),
        vec![]
    );
}
