use super::*;
use crate::mysql::packets::{ErrPacket, OkPacket};
use crate::mysql::resultset::{ColumnDef, build_text_row, column_count};

const EOF_CAPS: CapabilityFlags = CapabilityFlags::CLIENT_PROTOCOL_41;
const DEPRECATE: CapabilityFlags =
    CapabilityFlags::CLIENT_PROTOCOL_41.union(CapabilityFlags::CLIENT_DEPRECATE_EOF);

fn ok(status: StatusFlags, header: u8, caps: CapabilityFlags) -> Vec<u8> {
    OkPacket {
        status,
        ..OkPacket::default()
    }
    .build(caps, header)
}

fn eof(status: StatusFlags) -> Vec<u8> {
    EofPacket {
        warnings: 0,
        status,
    }
    .build()
}

/// Feeds every packet; the steps returned.
fn run(t: &mut ReplyTracker, packets: &[Vec<u8>]) -> Vec<Step> {
    packets
        .iter()
        .map(|p| t.feed(p, p.len()).expect("well-formed"))
        .collect()
}

fn result_set(caps: CapabilityFlags, end_status: StatusFlags) -> Vec<Vec<u8>> {
    let mut v = vec![
        column_count(2),
        ColumnDef::varchar("a").build(),
        ColumnDef::varchar("b").build(),
    ];
    if !caps.contains(CapabilityFlags::CLIENT_DEPRECATE_EOF) {
        v.push(eof(StatusFlags::empty()));
    }
    v.push(build_text_row(&[Some("1"), None]));
    v.push(build_text_row(&[Some("2"), Some("x")]));
    if caps.contains(CapabilityFlags::CLIENT_DEPRECATE_EOF) {
        v.push(ok(end_status, 0xFE, caps));
    } else {
        v.push(eof(end_status));
    }
    v
}

#[test]
fn ok_and_err() {
    let mut t = ReplyTracker::new(cmd::QUERY, EOF_CAPS);
    assert_eq!(
        run(
            &mut t,
            &[ok(StatusFlags::SERVER_STATUS_IN_TRANS, 0, EOF_CAPS)]
        ),
        [Step::Done]
    );
    assert!(
        t.status
            .unwrap()
            .contains(StatusFlags::SERVER_STATUS_IN_TRANS)
    );
    let mut t = ReplyTracker::new(cmd::QUERY, EOF_CAPS);
    let err = ErrPacket {
        code: 1146,
        sqlstate: "42S02".into(),
        message: "x".into(),
    }
    .build();
    assert_eq!(run(&mut t, &[err]), [Step::Done]);
    assert!(t.error);
}

#[test]
fn result_sets_both_eof_styles() {
    for caps in [EOF_CAPS, DEPRECATE] {
        let mut t = ReplyTracker::new(cmd::QUERY, caps);
        let steps = run(
            &mut t,
            &result_set(caps, StatusFlags::SERVER_STATUS_AUTOCOMMIT),
        );
        assert_eq!(steps.last(), Some(&Step::Done), "{caps:?}");
        assert!(steps[..steps.len() - 1].iter().all(|s| *s == Step::More));
        assert!(
            t.status
                .unwrap()
                .contains(StatusFlags::SERVER_STATUS_AUTOCOMMIT)
        );
        assert!(t.feed(&[0], 1).is_err(), "nothing after the end");
    }
}

#[test]
fn multi_results_continue() {
    let more = StatusFlags::SERVER_MORE_RESULTS_EXISTS;
    let mut t = ReplyTracker::new(cmd::QUERY, DEPRECATE);
    let mut packets = result_set(DEPRECATE, more);
    packets.push(ok(StatusFlags::empty(), 0, DEPRECATE));
    let steps = run(&mut t, &packets);
    assert_eq!(steps.iter().filter(|s| **s == Step::Done).count(), 1);
    assert_eq!(steps.last(), Some(&Step::Done));
}

#[test]
fn local_infile_then_progress_then_ok() {
    let mut t = ReplyTracker::new(cmd::QUERY, EOF_CAPS);
    assert_eq!(t.feed(b"\xFBfile.csv", 9), Ok(Step::LocalInfile));
    let progress = b"\xFF\xFF\xFF\x01\x02\x02\0\0\0\x0FEnd bulk insert";
    assert_eq!(t.feed(progress, progress.len()), Ok(Step::More));
    assert!(!t.error);
    assert_eq!(
        run(&mut t, &[ok(StatusFlags::empty(), 0, EOF_CAPS)]),
        [Step::Done]
    );
}

#[test]
fn prepare_counts_params_and_columns() {
    // OK: status 0, stmt id 1, 2 columns, 1 parameter, filler, 0 warnings.
    let prep = vec![0, 1, 0, 0, 0, 2, 0, 1, 0, 0, 0, 0];
    let def = ColumnDef::varchar("c").build();
    let mut t = ReplyTracker::new(cmd::STMT_PREPARE, EOF_CAPS);
    let steps = run(
        &mut t,
        &[
            prep.clone(),
            def.clone(),
            eof(StatusFlags::empty()),
            def.clone(),
            def.clone(),
            eof(StatusFlags::empty()),
        ],
    );
    assert_eq!(
        steps,
        [
            Step::More,
            Step::More,
            Step::More,
            Step::More,
            Step::More,
            Step::Done
        ]
    );
    let mut t = ReplyTracker::new(cmd::STMT_PREPARE, DEPRECATE);
    let steps = run(&mut t, &[prep, def.clone(), def.clone(), def]);
    assert_eq!(steps.last(), Some(&Step::Done));
    let none = vec![0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    let mut t = ReplyTracker::new(cmd::STMT_PREPARE, EOF_CAPS);
    assert_eq!(run(&mut t, &[none]), [Step::Done]);
    let mut t = ReplyTracker::new(cmd::STMT_PREPARE, EOF_CAPS);
    assert!(t.feed(&[0, 1, 0], 3).is_err(), "truncated prepare OK");
}

#[test]
fn binary_rows_and_cursor() {
    let mut t = ReplyTracker::new(cmd::STMT_EXECUTE, EOF_CAPS);
    let packets = [
        column_count(1),
        ColumnDef::varchar("a").build(),
        eof(StatusFlags::SERVER_STATUS_CURSOR_EXISTS),
    ];
    assert_eq!(run(&mut t, &packets).last(), Some(&Step::Done));
    let mut t = ReplyTracker::new(cmd::STMT_FETCH, EOF_CAPS);
    assert_eq!(
        run(&mut t, &[vec![0, 0, 1, b'x'], eof(StatusFlags::empty())]),
        [Step::More, Step::Done]
    );
}

#[test]
fn big_rows_are_rows() {
    // A 16 MiB row may start with 0xFE; it is not the end of the rows.
    let mut t = ReplyTracker::new(cmd::QUERY, DEPRECATE);
    run(&mut t, &[column_count(1), ColumnDef::varchar("a").build()]);
    assert_eq!(t.feed(&[0xFE, 0, 0, 0], MAX_CHUNK + 10), Ok(Step::More));
    assert_eq!(
        t.feed(&ok(StatusFlags::empty(), 0xFE, DEPRECATE), 7),
        Ok(Step::Done)
    );
}

#[test]
fn malformed_replies() {
    let mut t = ReplyTracker::new(cmd::QUERY, EOF_CAPS);
    assert!(t.feed(&[], 0).is_err(), "empty first packet");
    let mut t = ReplyTracker::new(cmd::QUERY, EOF_CAPS);
    assert!(t.feed(&[0x00, 0xFC], 2).is_err(), "truncated OK");
    let mut t = ReplyTracker::new(cmd::QUERY, EOF_CAPS);
    run(&mut t, &[column_count(1), ColumnDef::varchar("a").build()]);
    assert!(
        t.feed(&[1, b'x'], 2).is_err(),
        "a row where the EOF belongs"
    );
    assert!(has_no_reply(cmd::STMT_CLOSE) && !has_no_reply(cmd::QUERY));
    let mut t = ReplyTracker::new(cmd::STATISTICS, EOF_CAPS);
    assert_eq!(t.feed(b"Uptime: 1", 9), Ok(Step::Done));
}

#[test]
fn warnings_and_insert_id_of_the_last_result() {
    let mut t = ReplyTracker::new(cmd::QUERY, EOF_CAPS);
    let p = OkPacket {
        affected_rows: 1,
        last_insert_id: 42,
        warnings: 2,
        status: StatusFlags::SERVER_STATUS_AUTOCOMMIT,
        ..OkPacket::default()
    }
    .build(EOF_CAPS, 0);
    assert_eq!(run(&mut t, &[p]), [Step::Done]);
    assert_eq!((t.warnings, t.insert_id), (2, 42));
    let mut t = ReplyTracker::new(cmd::QUERY, EOF_CAPS);
    let mut packets = result_set(EOF_CAPS, StatusFlags::empty());
    let last = packets.len() - 1;
    packets[last] = EofPacket {
        warnings: 3,
        status: StatusFlags::empty(),
    }
    .build();
    run(&mut t, &packets);
    assert_eq!((t.warnings, t.insert_id), (3, 0));
}
