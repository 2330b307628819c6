//! Scenario table for the Galera rules.

use serde_spanned::Spanned;

use super::*;
use crate::config::{Dur, ServerSpec};

const UUID: &str = "a37c9bfa-e8af-11f1-b2b1-9f266120e747";

fn cfg(priorities: &[i32]) -> Galera {
    let servers = priorities
        .iter()
        .enumerate()
        .map(|(i, p)| ServerSpec {
            addr: format!("10.0.0.{}:3306", i + 1),
            name: format!("n{}", i + 1),
            backup: false,
            priority: *p,
        })
        .collect();
    Galera {
        name: Spanned::new(0..0, "galera".into()),
        servers: Spanned::new(0..0, servers),
        user: "monitor".into(),
        password: None,
        password_file: None,
        interval: Dur::one_sec(),
        connect_timeout: Dur::three_secs(),
        check_timeout: None,
        available_when_donor: false,
        master: MasterSelect::LowestIndex,
        failback: false,
    }
}

fn synced(index: u32) -> Result<GaleraNodeState, String> {
    Ok(GaleraNodeState {
        cluster_status: "Primary".into(),
        ready: true,
        local_state: SYNCED,
        local_state_comment: "Synced".into(),
        desync: false,
        reject_queries: "NONE".into(),
        local_index: Some(index),
        cluster_state_uuid: UUID.into(),
        cluster_size: 3,
        read_only: false,
        version: "10.11.19-MariaDB".into(),
        start_time: Some(1_000),
        ..GaleraNodeState::default()
    })
}

fn with(index: u32, f: impl FnOnce(&mut GaleraNodeState)) -> Result<GaleraNodeState, String> {
    let mut s = synced(index).unwrap();
    f(&mut s);
    Ok(s)
}

fn down() -> Result<GaleraNodeState, String> {
    Err("connect: Connection refused".into())
}

fn roles(s: &ClusterSnapshot) -> Vec<&'static str> {
    s.servers.iter().map(|s| s.role.as_str()).collect()
}

/// Evaluates `rounds` in sequence from an empty snapshot; returns the last.
fn run(cfg: &Galera, rounds: &[Vec<Result<GaleraNodeState, String>>]) -> ClusterSnapshot {
    rounds
        .iter()
        .fold(ClusterSnapshot::default(), |prev, nodes| {
            evaluate(nodes, &prev, cfg)
        })
}

#[test]
fn scenario_table() {
    type Case = (
        &'static str,
        Vec<Result<GaleraNodeState, String>>,
        [&'static str; 3],
    );
    let cases: Vec<Case> = vec![
        (
            "all synced: lowest index is master",
            vec![synced(1), synced(0), synced(2)],
            ["reader", "master", "reader"],
        ),
        (
            "one unreachable",
            vec![down(), synced(0), synced(1)],
            ["down", "master", "reader"],
        ),
        (
            "desynced node",
            vec![
                synced(0),
                with(1, |s| {
                    s.desync = true;
                    s.local_state = DONOR
                }),
                synced(2),
            ],
            ["master", "desynced", "reader"],
        ),
        (
            "donor without available_when_donor",
            vec![with(0, |s| s.local_state = DONOR), synced(1), synced(2)],
            ["donor", "master", "reader"],
        ),
        (
            "joiner",
            vec![synced(0), with(1, |s| s.local_state = 1), synced(2)],
            ["master", "down", "reader"],
        ),
        (
            "joined, not yet synced",
            vec![synced(0), synced(1), with(2, |s| s.local_state = 3)],
            ["master", "reader", "down"],
        ),
        (
            "non-Primary",
            vec![
                with(0, |s| {
                    s.cluster_status = "non-Primary".into();
                    s.local_index = None
                }),
                synced(1),
                synced(2),
            ],
            ["down", "master", "reader"],
        ),
        (
            "not ready",
            vec![with(0, |s| s.ready = false), synced(1), synced(2)],
            ["down", "master", "reader"],
        ),
        (
            "reject_queries ALL",
            vec![
                with(0, |s| s.reject_queries = "ALL".into()),
                synced(1),
                synced(2),
            ],
            ["down", "master", "reader"],
        ),
        (
            "read_only serves reads only",
            vec![with(0, |s| s.read_only = true), synced(1), synced(2)],
            ["reader", "master", "reader"],
        ),
        (
            "minority UUID",
            vec![
                synced(0),
                synced(1),
                with(2, |s| s.cluster_state_uuid = "other".into()),
            ],
            ["master", "reader", "down"],
        ),
        (
            "nobody reachable",
            vec![down(), down(), down()],
            ["down", "down", "down"],
        ),
        (
            "all read_only: no master",
            vec![
                with(0, |s| s.read_only = true),
                with(1, |s| s.read_only = true),
                down(),
            ],
            ["reader", "reader", "down"],
        ),
    ];
    let c = cfg(&[0, 0, 0]);
    for (name, nodes, want) in cases {
        let snap = evaluate(&nodes, &ClusterSnapshot::default(), &c);
        assert_eq!(roles(&snap), want, "{name}");
        let masters = snap
            .servers
            .iter()
            .filter(|s| s.role == Role::Master)
            .count();
        assert_eq!(masters, usize::from(snap.master.is_some()), "{name}");
        assert_eq!(
            snap.master.as_deref(),
            snap.master_server().map(|m| m.address.as_str()),
            "{name}"
        );
        for s in &snap.servers {
            assert_eq!(
                s.serving(),
                matches!(s.role, Role::Master | Role::Reader),
                "{name}"
            );
            assert_eq!(s.serving(), s.last_error.is_none(), "{name}: {s:?}");
        }
    }
}

#[test]
fn donor_serves_when_allowed() {
    let mut c = cfg(&[0, 0, 0]);
    c.available_when_donor = true;
    let snap = evaluate(
        &[with(0, |s| s.local_state = DONOR), synced(1), down()],
        &ClusterSnapshot::default(),
        &c,
    );
    assert_eq!(roles(&snap), ["master", "reader", "down"]);
    // A desynced node is never serving, even as a donor.
    let snap = evaluate(
        &[
            with(0, |s| {
                s.local_state = DONOR;
                s.desync = true
            }),
            synced(1),
            down(),
        ],
        &ClusterSnapshot::default(),
        &c,
    );
    assert_eq!(roles(&snap), ["desynced", "master", "down"]);
}

/// A node back from a restart (a later start time).
fn restarted(index: u32) -> Result<GaleraNodeState, String> {
    with(index, |s| s.start_time = Some(5_000))
}

#[test]
fn no_failback() {
    let c = cfg(&[0, 0, 0]);
    // n1 master, leaves; n2 takes over; n1 comes back restarted with the lowest index: n2
    // stays, the node running the longest.
    let snap = run(
        &c,
        &[
            vec![synced(0), synced(1), synced(2)],
            vec![down(), synced(0), synced(1)],
            vec![restarted(0), synced(1), synced(2)],
        ],
    );
    assert_eq!(roles(&snap), ["reader", "master", "reader"]);
    assert_eq!(snap.master.as_deref(), Some("10.0.0.2:3306"));
    // Indexes reshuffle on membership change (lab pitfall 8): the master still stays.
    let snap = evaluate(&[restarted(2), synced(0), synced(1)], &snap, &c);
    assert_eq!(snap.master.as_deref(), Some("10.0.0.2:3306"));
}

#[test]
fn every_instance_names_the_same_master() {
    // The rule uses nothing but what the nodes report: an instance that starts now (no
    // previous snapshot) agrees with one that has watched the whole history.
    let c = cfg(&[0, 0, 0]);
    let round = vec![
        restarted(0),
        with(2, |s| s.start_time = Some(900)),
        synced(1),
    ];
    let watched = run(
        &c,
        &[
            vec![synced(0), synced(1), synced(2)],
            vec![down(), synced(0), synced(1)],
            round.clone(),
        ],
    );
    let fresh = evaluate(&round, &ClusterSnapshot::default(), &c);
    assert_eq!(watched.master, fresh.master);
    assert_eq!(
        fresh.master.as_deref(),
        Some("10.0.0.2:3306"),
        "started first"
    );
    // A node without a start time counts as the youngest.
    let snap = evaluate(
        &[with(0, |s| s.start_time = None), synced(1), synced(2)],
        &ClusterSnapshot::default(),
        &c,
    );
    assert_eq!(snap.master.as_deref(), Some("10.0.0.2:3306"));
}

#[test]
fn failback_when_configured() {
    let mut c = cfg(&[0, 0, 0]);
    c.failback = true;
    let snap = run(
        &c,
        &[
            vec![synced(0), synced(1), synced(2)],
            vec![down(), synced(0), synced(1)],
            vec![synced(0), synced(1), synced(2)],
        ],
    );
    assert_eq!(snap.master.as_deref(), Some("10.0.0.1:3306"));
}

#[test]
fn master_turning_read_only_is_replaced() {
    let c = cfg(&[0, 0, 0]);
    let snap = run(
        &c,
        &[
            vec![synced(0), synced(1), synced(2)],
            vec![with(0, |s| s.read_only = true), synced(1), synced(2)],
        ],
    );
    assert_eq!(roles(&snap), ["reader", "master", "reader"]);
}

#[test]
fn priority_selection() {
    let mut c = cfg(&[1, 5, 3]);
    c.master = MasterSelect::Priority;
    let snap = evaluate(
        &[synced(0), synced(1), synced(2)],
        &ClusterSnapshot::default(),
        &c,
    );
    assert_eq!(snap.master.as_deref(), Some("10.0.0.2:3306"));
    let snap = evaluate(&[synced(0), down(), synced(2)], &snap, &c);
    assert_eq!(snap.master.as_deref(), Some("10.0.0.3:3306"));
    // Back (restarted), higher priority: the priority comes first, it is the master again.
    let snap = evaluate(&[synced(0), restarted(1), synced(2)], &snap, &c);
    assert_eq!(snap.master.as_deref(), Some("10.0.0.2:3306"));
    // Equal priorities: lowest index.
    let c2 = Galera {
        servers: cfg(&[2, 2, 2]).servers,
        ..c
    };
    let snap = evaluate(
        &[synced(2), synced(1), synced(0)],
        &ClusterSnapshot::default(),
        &c2,
    );
    assert_eq!(snap.master.as_deref(), Some("10.0.0.3:3306"));
}

#[test]
fn uuid_tie_prefers_the_previous_master_else_nobody() {
    let c = cfg(&[0, 0]);
    let split = vec![
        synced(0),
        with(0, |s| s.cluster_state_uuid = "other".into()),
    ];
    let snap = evaluate(&split, &ClusterSnapshot::default(), &c);
    assert_eq!(roles(&snap), ["down", "down"]);
    assert!(snap.master.is_none());
    let before = evaluate(&[synced(0), synced(1)], &ClusterSnapshot::default(), &c);
    let snap = evaluate(&split, &before, &c);
    assert_eq!(roles(&snap), ["master", "down"]);
}

fn row(name: &str, value: Option<&str>) -> Vec<Option<String>> {
    vec![Some(name.into()), value.map(str::to_string)]
}

#[test]
fn state_from_rows() {
    let rows = vec![
        row("WSREP_LOCAL_STATE", Some("2")),
        row("WSREP_LOCAL_STATE_COMMENT", Some("Donor/Desynced")),
        row("wsrep_cluster_status", Some("Primary")),
        row("WSREP_READY", Some("ON")),
        row("WSREP_LOCAL_INDEX", Some("18446744073709551615")),
        row("WSREP_CLUSTER_STATE_UUID", Some(UUID)),
        row("WSREP_CLUSTER_SIZE", Some("3")),
        row("READ_ONLY", Some("0")),
        row("WSREP_DESYNC", Some("1")),
        row("WSREP_REJECT_QUERIES", Some("none")),
        row("VERSION", Some("10.11.19-MariaDB")),
        row("SOMETHING_ELSE", None),
        vec![],
    ];
    let s = GaleraNodeState::from_rows(&rows).unwrap();
    assert_eq!(
        (s.local_state, s.desync, s.ready, s.read_only),
        (DONOR, true, true, false)
    );
    assert_eq!((s.local_index, s.cluster_size), (None, 3));
    assert_eq!(s.reject_queries, "NONE");
    assert_eq!(s.may_serve(true), Err("wsrep_desync is ON".into()));
    assert!(matches!(
        GaleraNodeState::from_rows(&[row("VERSION", Some("8.0"))]),
        Err(GaleraError::NotGalera)
    ));
    let bad = [
        row("WSREP_CLUSTER_STATUS", Some("Primary")),
        row("WSREP_LOCAL_STATE", Some("x")),
    ];
    assert!(matches!(
        GaleraNodeState::from_rows(&bad),
        Err(GaleraError::BadValue { .. })
    ));
}

#[test]
fn snapshot_json_shape() {
    let snap = evaluate(
        &[synced(0), down()],
        &ClusterSnapshot::default(),
        &cfg(&[0, 0]),
    );
    let v = serde_json::to_value(&snap).unwrap();
    assert_eq!(v["master"], "10.0.0.1:3306");
    assert_eq!(v["servers"][0]["state"], "up");
    assert_eq!(v["servers"][0]["role"], "master");
    assert_eq!(v["servers"][1]["state"], "down");
    assert_eq!(v["servers"][1]["last_error"], "connect: Connection refused");
    assert_eq!(v["servers"][0]["wsrep"]["local_index"], 0);
}
