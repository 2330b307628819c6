#![no_main]
use datagate::mysql::classify::{Route, SessionContext, StatementKind, classify, route};
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
});
