//! Several datagate instances (one per datanode, the same config, `failback = false`) in front
//! of the real 3-node Galera lab always name the same master: at start, after the master is
//! killed, after the old node returns, after an instance restarts and when a fresh one starts.
//! They share nothing but what the nodes report.

mod support;

use std::time::{Duration, Instant};

use support::rw::{master_node, proxy};
use support::{Datagate, GaleraLab, galera};

/// Each instance's master (node number), `None` for an instance without one.
fn masters(g: &GaleraLab, dgs: &[Datagate]) -> Vec<Option<usize>> {
    dgs.iter()
        .map(|dg| {
            let (_, body) = dg.get("/api/v1/servers").ok()?;
            let v: serde_json::Value = serde_json::from_str(&body).ok()?;
            let addr = v["galera"]["g"]["master"].as_str()?;
            let port: u16 = addr.rsplit(':').next()?.parse().ok()?;
            Some(g.node_of_port(port))
        })
        .collect()
}

/// Waits until every instance names the same master and keeps naming it for a second;
/// returns it. Panics with the samples after `timeout`. The longest time two instances named
/// different masters is added to `split`.
fn agreed(g: &GaleraLab, dgs: &[Datagate], timeout: Duration, split: &mut Duration) -> usize {
    let deadline = Instant::now() + timeout;
    let mut since: Option<(usize, Instant)> = None;
    let mut disagree_from: Option<Instant> = None;
    loop {
        let m = masters(g, dgs);
        let named: Vec<usize> = m.iter().flatten().copied().collect();
        let differ = named.windows(2).any(|w| w[0] != w[1]);
        match (differ, disagree_from) {
            (true, None) => disagree_from = Some(Instant::now()),
            (false, Some(t)) => {
                *split = (*split).max(t.elapsed());
                disagree_from = None;
            }
            _ => {}
        }
        let all = named.len() == m.len() && !differ;
        match (all, since) {
            (true, Some((n, t))) if n == named[0] && t.elapsed() >= Duration::from_secs(1) => {
                return n;
            }
            (true, Some((n, _))) if n == named[0] => {}
            (true, _) => since = Some((named[0], Instant::now())),
            (false, _) => since = None,
        }
        assert!(Instant::now() < deadline, "instances do not agree: {m:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn instances_agree_on_the_master() {
    let _serial = support::serial();
    let g = galera();
    let _heal = g.heal_on_drop();
    g.wait_all_serving(Duration::from_secs(60));
    let mut dgs: Vec<Datagate> = (0..3).map(|_| proxy(g, "").0).collect();
    let mut split = Duration::ZERO;
    let first = agreed(g, &dgs, Duration::from_secs(10), &mut split);
    assert_eq!(first, master_node(g, &dgs[0]));

    // The master dies: every instance moves to the same survivor.
    g.kill(first);
    let second = agreed(g, &dgs, Duration::from_secs(20), &mut split);
    assert_ne!(second, first);

    // The old node returns: nobody moves back to it, also when it comes back with the lowest
    // wsrep_local_index (Galera renumbers the nodes by their new UUIDs; restart it until it
    // does, so that a rule keeping the master only in memory would name it on a fresh instance).
    for _ in 0..5 {
        g.restart(first);
        g.wait_all_serving(Duration::from_secs(60));
        if g.state(first).is_some_and(|s| s.local_index == 0) {
            break;
        }
    }
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(agreed(g, &dgs, Duration::from_secs(10), &mut split), second);

    // An instance restarts, and a fresh one starts: both name the same master at once.
    dgs.remove(1).kill();
    dgs.push(proxy(g, "").0);
    dgs.push(proxy(g, "").0);
    assert_eq!(agreed(g, &dgs, Duration::from_secs(10), &mut split), second);
    eprintln!(
        "longest disagreement between instances: {} ms",
        split.as_millis()
    );
    // Instances poll on their own clocks: after a change they may differ for a monitor round.
    assert!(split < Duration::from_secs(2), "disagreed for {split:?}");
}
