#![no_main]
use datagate::mysql::classify::history_key;
use datagate::mysql::session::history::{History, used_database};
use datagate::mysql::session::prepared::{
    ExecTypes, bind_types, exec_types, set_stmt_id, stmt_id,
};
use libfuzzer_sys::fuzz_target;

// What the session parses of client commands: COM_STMT_EXECUTE parameter blocks (and their
// rewriting for another backend), statement ids, and session commands kept in the history.
fuzz_target!(|data: &[u8]| {
    let Some((&params, payload)) = data.split_first() else {
        return;
    };
    let params = u16::from(params);
    let _ = stmt_id(payload);
    if let Ok(ExecTypes::Bound(t)) = exec_types(payload, params) {
        assert_eq!(t.len(), 2 * usize::from(params));
    }
    let mut frame = (payload.len() as u32).to_le_bytes()[..3].to_vec();
    frame.push(0);
    frame.extend_from_slice(payload);
    let types = vec![0x08; 2 * usize::from(params)];
    if let Some(f) = bind_types(&frame, params, &types) {
        assert_eq!(exec_types(&f[4..], params), Ok(ExecTypes::Bound(&types[..])));
    }
    set_stmt_id(&mut frame, 7);
    let _ = history_key(payload);
    let _ = used_database(payload);
    let mut h = History::new(4);
    h.push(payload);
    h.push(data);
    assert!(h.payloads().count() <= 4);
});
