#![no_main]
//! Values read back from a server (`SET @x = f()`) become SQL literals replayed on other
//! connections: whatever the server sends, the literal is made of names, digits and hex only.
use datagate::mysql::classify::assigned_vars;
use datagate::mysql::packets::CapabilityFlags;
use datagate::mysql::session::readback::{literal, literal_set, single_row};
use libfuzzer_sys::fuzz_target;

fn safe(lit: &str) -> bool {
    lit.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b" _'.+-()".contains(&b))
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let mut caps = CapabilityFlags::CLIENT_PROTOCOL_41;
    if flags & 1 == 1 {
        caps |= CapabilityFlags::CLIENT_DEPRECATE_EOF;
    }
    let _ = single_row(rest, caps);
    let vars = assigned_vars(b"SET @a = f(), @b = g()").expect("vars");
    if let Some(set) = literal_set(&vars, rest, caps) {
        assert!(set.starts_with(b"\x03SET "));
    }
    // Four values from the fuzzer's bytes, split at 0xFF (0xFE = NULL).
    let mut values: Vec<Option<Vec<u8>>> = rest
        .split(|b| *b == 0xFF)
        .take(4)
        .map(|v| (v != [0xFE]).then(|| v.to_vec()))
        .collect();
    values.resize(4, Some(Vec::new()));
    if let Some(lit) = literal(flags >> 1, &values) {
        assert!(safe(&lit), "{lit:?}");
    }
});
