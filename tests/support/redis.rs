//! The shared Redis master, replicas and Sentinels of the test lab.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use super::{Lab, REDIS_MASTER_NAME, redis_cli, toml_list};

/// The shared Redis master + 2 replicas + 3 Sentinels, started on first use in this test binary
/// (nodes that a previous test killed come back as replicas). Panics with the script's output.
pub fn redis() -> &'static RedisLab {
    static LAB: OnceLock<Result<RedisLab, String>> = OnceLock::new();
    let lab = LAB.get_or_init(|| {
        let lab = RedisLab {
            lab: Lab::from_env(),
        };
        lab.lab.run("redis.sh", &["start"]).map(|_| lab)
    });
    match lab {
        Ok(l) => l,
        Err(e) => panic!("the Redis test lab did not start: {e}"),
    }
}

/// `redis().kill_master()`.
pub fn redis_kill_master() -> u16 {
    redis().kill_master()
}

/// `redis().failover()`.
pub fn redis_failover() -> u16 {
    redis().failover()
}

/// `redis().restart_all()`.
pub fn redis_restart_all() {
    redis().restart_all()
}

/// Handle on the Redis part of the test lab. Nodes and sentinels are numbered 1, 2, 3.
#[derive(Debug)]
pub struct RedisLab {
    pub lab: Lab,
}

impl RedisLab {
    /// Port of Redis node `n` (1..=3); node 1 is master after a fresh start.
    pub fn node_port(&self, n: usize) -> u16 {
        assert!((1..=3).contains(&n), "Redis nodes are 1, 2, 3 (got {n})");
        16378 + n as u16 + self.lab.port_offset
    }

    pub fn node_ports(&self) -> [u16; 3] {
        [self.node_port(1), self.node_port(2), self.node_port(3)]
    }

    /// Port of Sentinel `n` (1..=3).
    pub fn sentinel_port(&self, n: usize) -> u16 {
        assert!((1..=3).contains(&n), "Sentinels are 1, 2, 3 (got {n})");
        26378 + n as u16 + self.lab.port_offset
    }

    pub fn sentinel_ports(&self) -> [u16; 3] {
        [
            self.sentinel_port(1),
            self.sentinel_port(2),
            self.sentinel_port(3),
        ]
    }

    /// The sentinels as a TOML array, for `sentinels = ...` in a datagate config.
    pub fn sentinels_toml(&self) -> String {
        toml_list(
            self.sentinel_ports()
                .iter()
                .map(|p| format!("127.0.0.1:{p}")),
        )
    }

    /// Sentinel master name (`dn`).
    pub fn master_name(&self) -> &'static str {
        REDIS_MASTER_NAME
    }

    /// The master port each sentinel reports (`None` for a sentinel that does not answer).
    pub fn sentinel_masters(&self) -> Vec<Option<u16>> {
        self.sentinel_ports()
            .iter()
            .map(|&s| {
                let out = redis_cli(
                    s,
                    &["SENTINEL", "get-master-addr-by-name", REDIS_MASTER_NAME],
                )
                .ok()?;
                out.lines().nth(1)?.trim().parse().ok()
            })
            .collect()
    }

    /// The master port a majority of the sentinels agree on, if any.
    pub fn master(&self) -> Option<u16> {
        let mut votes: BTreeMap<u16, usize> = BTreeMap::new();
        for p in self.sentinel_masters().into_iter().flatten() {
            *votes.entry(p).or_default() += 1;
        }
        votes.into_iter().find(|&(_, v)| v >= 2).map(|(p, _)| p)
    }

    /// First line of `ROLE` on `port` (`master`, `slave`), `None` if it does not answer.
    pub fn role(&self, port: u16) -> Option<String> {
        let out = redis_cli(port, &["ROLE"]).ok()?;
        out.lines().next().map(|s| s.trim().to_string())
    }

    /// SIGKILL the master; returns once all sentinels agree on a new one (its port). The killed
    /// node stays down until [`RedisLab::start`].
    pub fn kill_master(&self) -> u16 {
        self.lab.must("redis.sh", &["kill-master"]);
        self.master()
            .expect("no master agreed after redis.sh kill-master")
    }

    /// `SENTINEL FAILOVER`; returns once all sentinels agree on the new master (its port). The old
    /// master may still say `role:master` for a few seconds.
    pub fn failover(&self) -> u16 {
        self.lab.must("redis.sh", &["failover"]);
        self.master()
            .expect("no master agreed after redis.sh failover")
    }

    /// Start whatever is not running (a node that comes back joins as a replica).
    pub fn start(&self) {
        self.lab.must("redis.sh", &["start"]);
    }

    /// Stop everything and start afresh: node 1 master, sentinels without history.
    pub fn restart_all(&self) {
        self.lab.must("redis.sh", &["restart"]);
    }

    /// `redis.sh status` output.
    pub fn status(&self) -> String {
        self.lab.must("redis.sh", &["status"])
    }
}
