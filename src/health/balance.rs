//! Server selection for `[[tcp]]` listeners, with HAProxy's semantics.
//!
//! Active (non-backup) usable servers are candidates; only when none is left does the first
//! usable backup server take traffic (HAProxy without `option allbackups`).

use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::atomic::Ordering;

use super::group::Group;
use crate::config::Balance;

/// Index of the server for a new session, skipping `tried` (servers whose connect failed).
pub fn pick(group: &Group, balance: Balance, client: IpAddr, tried: &[usize]) -> Option<usize> {
    let usable = |i: &usize| group.servers[*i].usable() && !tried.contains(i);
    let mut candidates: Vec<usize> = (0..group.servers.len())
        .filter(|i| !group.servers[*i].spec.backup)
        .filter(usable)
        .collect();
    if candidates.is_empty() {
        return (0..group.servers.len())
            .filter(|i| group.servers[*i].spec.backup)
            .find(usable);
    }
    Some(match balance {
        Balance::First => candidates[0],
        Balance::Roundrobin => {
            let n = group.cursor.fetch_add(1, Ordering::Relaxed);
            candidates[n % candidates.len()]
        }
        Balance::Leastconn => {
            // Rotate the start so ties spread instead of always hitting the first server.
            let start = group.cursor.fetch_add(1, Ordering::Relaxed) % candidates.len();
            candidates.rotate_left(start);
            *candidates
                .iter()
                .min_by_key(|i| group.servers[**i].active.load(Ordering::Relaxed))?
        }
        Balance::Source => {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            client.hash(&mut h);
            candidates[(h.finish() % candidates.len() as u64) as usize]
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ServerSpec;
    use crate::health::group::AdminState;

    fn group(specs: &[(&str, bool)]) -> Group {
        let specs: Vec<ServerSpec> = specs
            .iter()
            .map(|(a, backup)| ServerSpec {
                addr: a.to_string(),
                name: a.to_string(),
                backup: *backup,
                priority: 0,
            })
            .collect();
        Group::new("balance_test", &specs, None)
    }

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 9));

    #[test]
    fn roundrobin_cycles_over_usable_actives() {
        let g = group(&[
            ("a:1", false),
            ("b:1", false),
            ("c:1", false),
            ("z:1", true),
        ]);
        g.servers[1].set_health(false, None);
        let picks: Vec<_> = (0..4)
            .map(|_| pick(&g, Balance::Roundrobin, IP, &[]).unwrap())
            .collect();
        assert_eq!(picks, vec![0, 2, 0, 2]);
    }

    #[test]
    fn backup_only_when_no_active_and_first_backup_only() {
        let g = group(&[("a:1", false), ("y:1", true), ("z:1", true)]);
        assert_eq!(pick(&g, Balance::Roundrobin, IP, &[]), Some(0));
        g.servers[0].set_health(false, None);
        assert_eq!(pick(&g, Balance::Roundrobin, IP, &[]), Some(1));
        assert_eq!(pick(&g, Balance::Roundrobin, IP, &[]), Some(1));
        g.servers[1].set_admin(AdminState::Maint);
        assert_eq!(pick(&g, Balance::Roundrobin, IP, &[]), Some(2));
        g.servers[2].set_admin(AdminState::Drain);
        assert_eq!(pick(&g, Balance::Roundrobin, IP, &[]), None);
    }

    #[test]
    fn leastconn_prefers_fewest_sessions() {
        let g = group(&[("a:1", false), ("b:1", false)]);
        let _s1 = g.servers[0].open_session();
        let _s2 = g.servers[0].open_session();
        for _ in 0..4 {
            assert_eq!(pick(&g, Balance::Leastconn, IP, &[]), Some(1));
        }
    }

    #[test]
    fn first_and_retry_exclusion() {
        let g = group(&[("a:1", false), ("b:1", false), ("c:1", false)]);
        assert_eq!(pick(&g, Balance::First, IP, &[]), Some(0));
        assert_eq!(pick(&g, Balance::First, IP, &[0]), Some(1));
        assert_eq!(pick(&g, Balance::First, IP, &[0, 1, 2]), None);
    }

    #[test]
    fn source_is_sticky() {
        let g = group(&[("a:1", false), ("b:1", false), ("c:1", false)]);
        let first = pick(&g, Balance::Source, IP, &[]);
        for _ in 0..10 {
            assert_eq!(pick(&g, Balance::Source, IP, &[]), first);
        }
    }
}
