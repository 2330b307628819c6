#![no_main]
use datagate::redis::{reply, resp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((frame, used))) = resp::decode_reply(data) {
        assert!(used <= data.len());
        let _ = reply::master_addr(&frame);
        let _ = reply::role(&frame);
        let _ = reply::hint(&frame, "dn");
    }
});
