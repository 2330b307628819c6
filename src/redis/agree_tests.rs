use super::*;
use std::time::Duration;

const O: &str = "10.0.0.1:6379";
const X: &str = "10.0.0.2:6379";
const Y: &str = "10.0.0.3:6379";
const Z: &str = "10.9.9.9:6379";

/// One polling round: what each sentinel says ("-" = unreachable, "?" = unknown name),
/// what ROLE says for each node (absent = unreachable), and the expected master.
struct Round {
    reports: &'static [&'static str],
    roles: &'static [(&'static str, Role)],
    expect: Option<&'static str>,
}

#[derive(Clone, Copy)]
enum Role {
    Master(&'static [&'static str]),
    Replica,
    Down,
}

fn r(
    reports: &'static [&'static str],
    roles: &'static [(&'static str, Role)],
    expect: Option<&'static str>,
) -> Round {
    Round {
        reports,
        roles,
        expect,
    }
}

/// Runs rounds in order, feeding each decision back as `current`, like the monitor does.
fn run(name: &str, configured: usize, rounds: &[Round]) {
    let mut agreement = Agreement::default();
    let mut current: Option<String> = None;
    for (i, round) in rounds.iter().enumerate() {
        let reports: Vec<Report> = round
            .reports
            .iter()
            .map(|s| match *s {
                "-" => Report::Unreachable,
                "?" => Report::Unknown,
                a => Report::Master(a.to_string()),
            })
            .collect();
        let roles: HashMap<String, Seen> = round
            .roles
            .iter()
            .map(|(a, role)| {
                let seen = match role {
                    Role::Master(reps) => {
                        Seen::Master(reps.iter().map(|s| s.to_string()).collect())
                    }
                    Role::Replica => Seen::NotMaster,
                    Role::Down => Seen::Unreachable,
                };
                (a.to_string(), seen)
            })
            .collect();
        let d = agreement.decide(
            configured,
            &reports,
            current.as_deref(),
            &roles,
            Instant::now(),
        );
        assert_eq!(
            d.master.as_deref(),
            round.expect,
            "scenario {name:?}, round {i}: {}",
            d.reason
        );
        current = d.master;
    }
}

const M_XY: Role = Role::Master(&[X, Y]);
const M_Y: Role = Role::Master(&[Y]);
const M_NONE: Role = Role::Master(&[]);

#[test]
fn single_round_scenarios() {
    let table: &[(&str, usize, Round)] = &[
        ("all agree", 3, r(&[O, O, O], &[(O, M_XY)], Some(O))),
        (
            "2 of 3, one down",
            3,
            r(&[O, "-", O], &[(O, M_XY)], Some(O)),
        ),
        (
            "2 of 3, one unknown",
            3,
            r(&["?", O, O], &[(O, M_XY)], Some(O)),
        ),
        (
            "2 of 3, one lies (replica)",
            3,
            r(&[O, X, O], &[(O, M_XY), (X, Role::Replica)], Some(O)),
        ),
        (
            "2 of 3, one lies (foreign master)",
            3,
            r(&[Z, O, O], &[(O, M_XY), (Z, M_NONE)], Some(O)),
        ),
        (
            "1 of 3 only, no history",
            3,
            r(&[O, "-", "-"], &[(O, M_XY)], None),
        ),
        (
            "1 of 3 lying, others down",
            3,
            r(&[Z, "-", "-"], &[(Z, M_NONE)], None),
        ),
        ("all down, no history", 3, r(&["-", "-", "-"], &[], None)),
        (
            "three-way split",
            3,
            r(&[O, X, Y], &[(O, M_NONE), (X, M_NONE), (Y, M_NONE)], None),
        ),
        (
            "majority names a replica",
            3,
            r(&[X, X, O], &[(X, Role::Replica), (O, M_XY)], None),
        ),
        (
            "majority names a dead node",
            3,
            r(&[O, O, O], &[(O, Role::Down)], None),
        ),
        (
            "4 sentinels, 2 agree is no majority",
            4,
            r(&[O, O, X, "-"], &[(O, M_NONE)], None),
        ),
        (
            "5 sentinels, 3 agree",
            5,
            r(&[O, O, O, X, "-"], &[(O, M_NONE)], Some(O)),
        ),
        ("1 sentinel configured", 1, r(&[O], &[(O, M_NONE)], Some(O))),
    ];
    for (name, configured, round) in table {
        run(name, *configured, std::slice::from_ref(round));
    }
}

#[test]
fn sentinels_down_keep_verified_master_while_it_says_master() {
    run(
        "fallback",
        3,
        &[
            r(&[O, O, O], &[(O, M_XY)], Some(O)),
            r(&["-", "-", "-"], &[(O, M_XY)], Some(O)),
            r(&["-", O, "-"], &[(O, M_XY)], Some(O)),
            // One missed check is forgiven, two are not.
            r(&["-", "-", "-"], &[(O, Role::Down)], Some(O)),
            r(&["-", "-", "-"], &[(O, Role::Down)], None),
            // Back without a majority: nothing to keep any more.
            r(&["-", O, "-"], &[(O, M_XY)], None),
            r(&[O, O, "-"], &[(O, M_XY)], Some(O)),
        ],
    );
}

#[test]
fn one_lying_sentinel_never_moves_traffic() {
    run(
        "liar",
        3,
        &[
            r(&[O, O, O], &[(O, M_XY)], Some(O)),
            // Names a foreign master: ignored.
            r(&[O, O, Z], &[(O, M_XY), (Z, M_NONE)], Some(O)),
            // Names a replica that is a replica: ignored, even with the others unreachable.
            r(&["-", "-", X], &[(O, M_XY), (X, Role::Replica)], Some(O)),
            r(&[O, "-", Z], &[(O, M_XY), (Z, M_NONE)], Some(O)),
        ],
    );
}

#[test]
fn master_killed_then_sentinels_promote() {
    run(
        "sigkill",
        3,
        &[
            r(
                &[O, O, O],
                &[(O, M_XY), (X, Role::Replica), (Y, Role::Replica)],
                Some(O),
            ),
            r(
                &[O, O, O],
                &[(O, Role::Down), (X, Role::Replica), (Y, Role::Replica)],
                Some(O),
            ),
            r(
                &[O, O, O],
                &[(O, Role::Down), (X, Role::Replica), (Y, Role::Replica)],
                None,
            ),
            // The leader switched first: one sentinel is not enough.
            r(
                &[X, O, O],
                &[(O, Role::Down), (X, M_Y), (Y, Role::Replica)],
                None,
            ),
            r(
                &[X, X, O],
                &[(O, Role::Down), (X, M_Y), (Y, Role::Replica)],
                Some(X),
            ),
            r(&[X, X, X], &[(X, M_Y), (Y, Role::Replica)], Some(X)),
        ],
    );
}

#[test]
fn graceful_failover_old_master_still_says_master() {
    run(
        "sentinel failover",
        3,
        &[
            r(
                &[O, O, O],
                &[(O, M_XY), (X, Role::Replica), (Y, Role::Replica)],
                Some(O),
            ),
            // X promoted (REPLICAOF NO ONE); sentinels still name O, and O still says master.
            r(
                &[O, O, O],
                &[(O, M_Y), (X, M_NONE), (Y, Role::Replica)],
                None,
            ),
            r(
                &[O, O, O],
                &[(O, M_Y), (X, M_NONE), (Y, Role::Replica)],
                None,
            ),
            r(
                &[X, O, O],
                &[(O, M_NONE), (X, M_Y), (Y, Role::Replica)],
                None,
            ),
            r(&[X, X, O], &[(O, M_NONE), (X, M_Y)], Some(X)),
            // O keeps saying master for ~10 s: irrelevant, the majority names X.
            r(&[X, X, X], &[(O, M_NONE), (X, M_Y)], Some(X)),
            r(
                &[X, X, X],
                &[(O, Role::Replica), (X, Role::Master(&[Y, O]))],
                Some(X),
            ),
        ],
    );
}

#[test]
fn fence_lifts_when_rival_is_demoted() {
    run(
        "stray promotion undone",
        3,
        &[
            r(&[O, O, O], &[(O, M_XY), (X, Role::Replica)], Some(O)),
            r(&[O, O, O], &[(O, M_Y), (X, M_NONE)], None),
            r(&[O, O, O], &[(O, M_XY), (X, Role::Replica)], Some(O)),
        ],
    );
}

#[test]
fn failback_later_is_not_fenced_by_old_replica_lists() {
    run(
        "fail back",
        3,
        &[
            r(&[O, O, O], &[(O, M_XY)], Some(O)),
            r(&[X, X, X], &[(O, M_Y), (X, M_Y)], Some(X)),
            r(
                &[X, X, X],
                &[(X, Role::Master(&[Y, O])), (O, Role::Replica)],
                Some(X),
            ),
            // Fail back to O, while X still says master for a while.
            r(&[O, O, X], &[(X, M_Y), (O, M_NONE)], Some(O)),
            r(&[O, O, O], &[(X, M_NONE), (O, M_Y)], Some(O)),
        ],
    );
}

#[test]
fn to_check_covers_reports_current_replicas_and_hints() {
    let mut a = Agreement::default();
    let roles = HashMap::from([(O.to_string(), Seen::Master(vec![X.into(), Y.into()]))]);
    let reports = vec![Report::Master(O.into()); 3];
    assert_eq!(
        a.decide(3, &reports, None, &roles, Instant::now())
            .master
            .as_deref(),
        Some(O)
    );
    let got = a.to_check(&[Report::Master(Z.into())], Some(O), &[X.into()]);
    assert_eq!(got, vec![Z.to_string(), O.into(), X.into(), Y.into()]);
}

#[test]
fn majority_counts() {
    assert_eq!(quorum(1), 1);
    assert_eq!(quorum(2), 2);
    assert_eq!(quorum(3), 2);
    assert_eq!(quorum(4), 3);
    assert_eq!(quorum(5), 3);
    let reports = vec![Report::Master(O.into()), Report::Unreachable];
    assert_eq!(majority(2, &reports), None);
}

fn seen(entries: &[(&str, Seen)]) -> HashMap<String, Seen> {
    entries
        .iter()
        .map(|(a, s)| (a.to_string(), s.clone()))
        .collect()
}

fn all(addr: &str) -> Vec<Report> {
    vec![Report::Master(addr.into()); 3]
}

#[test]
fn announced_failover_fences_before_promotion() {
    let mut a = Agreement::default();
    let t0 = Instant::now();
    let ms = Duration::from_millis;
    let before = seen(&[
        (O, Seen::Master(vec![X.into(), Y.into()])),
        (X, Seen::NotMaster),
    ]);
    assert_eq!(
        a.decide(3, &all(O), None, &before, t0).master.as_deref(),
        Some(O)
    );
    a.failover_announced(O, X, t0 + ms(5000));
    assert!(a.is_fenced(O));
    // Not promoted yet: O is fenced all the same.
    assert_eq!(
        a.decide(3, &all(O), Some(O), &before, t0 + ms(10)).master,
        None
    );
    // Promoted: the fence is confirmed and outlives the announcement.
    let after = seen(&[(O, Seen::Master(vec![Y.into()])), (X, Seen::Master(vec![]))]);
    assert_eq!(
        a.decide(3, &all(O), None, &after, t0 + ms(6000)).master,
        None
    );
    let split = vec![
        Report::Master(X.into()),
        Report::Master(X.into()),
        Report::Master(O.into()),
    ];
    assert_eq!(
        a.decide(3, &split, None, &after, t0 + ms(7000))
            .master
            .as_deref(),
        Some(X)
    );
}

#[test]
fn announced_failover_expires_or_aborts() {
    let mut a = Agreement::default();
    let t0 = Instant::now();
    let ms = Duration::from_millis;
    let roles = seen(&[(O, Seen::Master(vec![X.into()])), (X, Seen::NotMaster)]);
    assert_eq!(
        a.decide(3, &all(O), None, &roles, t0).master.as_deref(),
        Some(O)
    );
    a.failover_announced(O, X, t0 + ms(5000));
    assert_eq!(
        a.decide(3, &all(O), Some(O), &roles, t0 + ms(1000)).master,
        None
    );
    // Never promoted: the fence lapses.
    assert_eq!(
        a.decide(3, &all(O), None, &roles, t0 + ms(5001))
            .master
            .as_deref(),
        Some(O)
    );
    a.failover_announced(O, X, t0 + ms(9000));
    a.failover_aborted();
    assert_eq!(
        a.decide(3, &all(O), Some(O), &roles, t0 + ms(5100))
            .master
            .as_deref(),
        Some(O)
    );
}

#[test]
fn a_replica_answer_drops_the_master_at_once() {
    run(
        "demoted",
        3,
        &[
            r(&[O, O, O], &[(O, M_XY)], Some(O)),
            r(&[O, O, O], &[(O, Role::Replica)], None),
        ],
    );
}
