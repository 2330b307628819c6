#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(datagate::net::proxy_protocol::Parsed::Header { len, .. }) =
        datagate::net::proxy_protocol::parse(data)
    {
        assert!(len <= data.len());
    }
});
