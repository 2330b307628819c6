//! Redis master via Sentinel: a RESP client for sentinels and nodes, the majority rule that
//! decides the master, the monitor task and the L4 listener that relays to the verified master.

pub mod agree;
pub mod reply;
pub mod resp;
