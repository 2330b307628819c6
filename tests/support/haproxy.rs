//! HAProxy in front of the lab's Galera cluster, as operators run it today: `balance first`
//! with the master first and the other nodes `backup`, `inter 1s fall 2 rise 2
//! on-marked-down shutdown-sessions`, `timeout server 1h`, `nbthread 1`.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{GaleraLab, free_port, scratch_dir, wait_until};

/// Starts HAProxy with node `master` first; the process and its MySQL port. Kill it when done.
pub fn haproxy_first(g: &GaleraLab, master: usize, what: &str) -> (Child, u16) {
    let port = free_port();
    let dir = scratch_dir(what);
    let mut servers = format!("    server n{master} {} check\n", g.addr(master));
    for n in (1..=3).filter(|n| *n != master) {
        servers += &format!("    server n{n} {} check backup\n", g.addr(n));
    }
    let cfg = format!(
        "global\n    nbthread 1\ndefaults\n    mode tcp\n    timeout connect 3s\n    \
         timeout client 1h\n    timeout server 1h\n    timeout check 2s\n    \
         default-server inter 1s fall 2 rise 2 on-marked-down shutdown-sessions\n\
         listen mysql\n    bind 127.0.0.1:{port}\n    balance first\n{servers}"
    );
    std::fs::write(dir.join("haproxy.cfg"), cfg).expect("haproxy.cfg");
    let child = Command::new("haproxy")
        .arg("-f")
        .arg(dir.join("haproxy.cfg"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("haproxy");
    assert!(
        wait_until(Duration::from_secs(5), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        }),
        "haproxy listens"
    );
    (child, port)
}
