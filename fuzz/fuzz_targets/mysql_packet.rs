#![no_main]
use datagate::mysql::codec::{BytesMut, PacketCodec};
use datagate::mysql::packets::{
    CapabilityFlags, ErrPacket, Handshake, HandshakeResponse, OkPacket,
};
use datagate::mysql::resultset::{ColumnDef, parse_text_row};
use libfuzzer_sys::fuzz_target;

// Every decoder of bytes a peer sends: framing, then each payload parser on every packet.
fuzz_target!(|data: &[u8]| {
    let mut codec = PacketCodec::new(1 << 20).lenient();
    let mut buf = BytesMut::from(data);
    while let Ok(Some(p)) = codec.decode(&mut buf) {
        let _ = Handshake::parse(&p.payload);
        let _ = HandshakeResponse::parse(&p.payload);
        let _ = OkPacket::parse(&p.payload, CapabilityFlags::from_bits_retain(u32::MAX));
        let _ = OkPacket::parse(&p.payload, CapabilityFlags::empty());
        let _ = ErrPacket::parse(&p.payload);
        let _ = ColumnDef::parse(&p.payload);
        let _ = parse_text_row(&p.payload, usize::from(p.seq));
    }
});
