#![no_main]
use datagate::mysql::codec::{BytesMut, PacketCodec};
use datagate::mysql::packets::{
    CapabilityFlags, ErrPacket, Handshake, HandshakeResponse, OkPacket,
};
use datagate::mysql::frontend::parse_change_user;
use datagate::mysql::reply::ReplyTracker;
use datagate::mysql::resultset::{ColumnDef, parse_text_row};
use libfuzzer_sys::fuzz_target;

// Every decoder of bytes a peer sends: framing, then each payload parser on every packet.
fuzz_target!(|data: &[u8]| {
    let mut codec = PacketCodec::new(1 << 20).lenient();
    let mut buf = BytesMut::from(data);
    let all = CapabilityFlags::from_bits_retain(u32::MAX);
    // Reply tracking over the whole stream, as the proxy's relay does, for a few commands.
    let mut trackers: Vec<ReplyTracker> = [0x03, 0x16, 0x17, 0x1C, 0x09]
        .into_iter()
        .flat_map(|c| [ReplyTracker::new(c, all), ReplyTracker::new(c, CapabilityFlags::empty())])
        .collect();
    while let Ok(Some(p)) = codec.decode(&mut buf) {
        for t in &mut trackers {
            let _ = t.feed(&p.payload, p.payload.len());
        }
        let _ = parse_change_user(&p.payload, all);
        let _ = parse_change_user(&p.payload, CapabilityFlags::empty());
        let _ = Handshake::parse(&p.payload);
        let _ = HandshakeResponse::parse(&p.payload);
        let _ = OkPacket::parse(&p.payload, CapabilityFlags::from_bits_retain(u32::MAX));
        let _ = OkPacket::parse(&p.payload, CapabilityFlags::empty());
        let _ = ErrPacket::parse(&p.payload);
        let _ = ColumnDef::parse(&p.payload);
        let _ = parse_text_row(&p.payload, usize::from(p.seq));
    }
});
