#![no_main]
use datagate::mysql::classify::{
    Flags, Route, SessionContext, StatementKind, assigned_vars, classify, kill_target,
    lock_calls, route,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let c = classify(data);
    let temp = vec![b"t".to_vec()];
    for ctx in [
        SessionContext::default(),
        SessionContext {
            in_transaction: true,
            ..Default::default()
        },
        SessionContext {
            temp_tables: &temp,
            ..Default::default()
        },
    ] {
        let r = route(&c, &ctx);
        if c.kind == StatementKind::Unknown {
            assert_eq!(r, Route::Master);
        }
    }
    // What cannot be classified may write and may commit; so may anything after the first
    // statement of a packet that is not a read.
    if c.kind == StatementKind::Unknown {
        assert!(c.may_write() && c.commits());
    }
    if c.flags.contains(Flags::MULTI_WRITE) {
        assert!(c.may_write());
    }
    let _ = kill_target(data);
    let _ = lock_calls(data);
    if let Some(vars) = assigned_vars(data) {
        for v in vars {
            // Read-back expressions quote the name: a backtick in it is doubled.
            let e = v.expr();
            assert!(e.ends_with('`'));
        }
    }
});
