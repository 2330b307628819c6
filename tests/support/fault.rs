//! A TCP relay in front of one server that loses replies on purpose: the statement reaches the
//! server and runs, but its reply never reaches the proxy, and then the connection breaks
//! (reset) or stays silent (as a hung network path would). Statements to hit are marked with
//! a unique text in a comment.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// What happens to a connection after the lost reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterLoss {
    /// Both sides are reset once the server has answered (the reply is thrown away).
    Reset,
    /// The server's bytes keep being thrown away; the connection stays open.
    Silence,
}

const NORMAL: u8 = 0;
const LOSING: u8 = 1;
const SILENT: u8 = 2;

/// A relay on `127.0.0.1:port` to one server.
pub struct FaultRelay {
    pub port: u16,
    rules: Rules,
    stop: Arc<AtomicBool>,
    /// Replies lost so far.
    pub lost: Arc<std::sync::atomic::AtomicU32>,
}

/// Rules shared by relays: a marked statement loses its reply on whichever relay it passes.
/// Each rule: the marker, what follows the loss, and the relay port it applies to (`None`: any).
pub type Rules = Arc<Mutex<Vec<(Vec<u8>, AfterLoss, Option<u16>)>>>;

/// Relays in front of several servers, sharing their rules.
pub struct Faults {
    pub relays: Vec<FaultRelay>,
}

impl Faults {
    /// One relay per target, sharing one set of rules.
    pub fn start(targets: &[String]) -> Faults {
        let rules = Rules::default();
        Faults {
            relays: targets
                .iter()
                .map(|t| FaultRelay::start_with(t, rules.clone()))
                .collect(),
        }
    }

    /// See [`FaultRelay::lose_reply`]: on the first relay the marked statement passes.
    pub fn lose_reply(&self, marker: &str, after: AfterLoss) {
        self.relays[0].lose_reply(marker, after);
    }

    /// Like [`Faults::lose_reply`], on relay `i` (0-based) only.
    pub fn lose_reply_at(&self, i: usize, marker: &str, after: AfterLoss) {
        let port = self.relays[i].port;
        self.relays[i]
            .rules
            .lock()
            .unwrap()
            .push((marker.as_bytes().to_vec(), after, Some(port)));
    }

    /// Replies lost so far, over every relay.
    pub fn lost(&self) -> u32 {
        self.relays.iter().map(FaultRelay::lost).sum()
    }

    /// The relay addresses, as a TOML array.
    pub fn servers_toml(&self) -> String {
        super::toml_list(self.relays.iter().map(FaultRelay::addr))
    }

    /// The index (0-based) of the relay at `addr`.
    pub fn index_of(&self, addr: &str) -> Option<usize> {
        self.relays.iter().position(|r| r.addr() == addr)
    }
}

impl FaultRelay {
    /// Starts relaying to `target` (`host:port`).
    pub fn start(target: &str) -> FaultRelay {
        FaultRelay::start_with(target, Rules::default())
    }

    fn start_with(target: &str, rules: Rules) -> FaultRelay {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind relay");
        let port = l.local_addr().expect("relay addr").port();
        let relay = FaultRelay {
            port,
            rules,
            stop: Arc::default(),
            lost: Arc::default(),
        };
        let (rules, stop, lost) = (relay.rules.clone(), relay.stop.clone(), relay.lost.clone());
        let target = target.to_string();
        thread::spawn(move || {
            for client in l.incoming() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(&target) else {
                    continue;
                };
                let (rules, lost) = (rules.clone(), lost.clone());
                thread::spawn(move || pipe(client, server, port, rules, lost));
            }
        });
        relay
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The next statement whose bytes contain `marker` runs on the server, but its reply is
    /// lost, then `after` happens to its connection.
    pub fn lose_reply(&self, marker: &str, after: AfterLoss) {
        self.rules
            .lock()
            .unwrap()
            .push((marker.as_bytes().to_vec(), after, None));
    }

    /// Replies lost so far.
    pub fn lost(&self) -> u32 {
        self.lost.load(Ordering::Relaxed)
    }
}

impl Drop for FaultRelay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

fn reset(s: &TcpStream) {
    let _ = socket2::SockRef::from(s).set_linger(Some(Duration::ZERO));
    let _ = s.shutdown(Shutdown::Both);
}

fn pipe(
    client: TcpStream,
    server: TcpStream,
    port: u16,
    rules: Rules,
    lost: Arc<std::sync::atomic::AtomicU32>,
) {
    let state = Arc::new(AtomicU8::new(NORMAL));
    let after = Arc::new(Mutex::new(AfterLoss::Reset));
    let (mut c_in, mut s_out) = (
        client.try_clone().expect("clone"),
        server.try_clone().expect("clone"),
    );
    let (st, af) = (state.clone(), after.clone());
    // Client to server: marks the connection when a marked statement passes.
    let up = thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match c_in.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            {
                let mut r = rules.lock().unwrap();
                let here = |on: &Option<u16>| on.is_none_or(|p| p == port);
                if let Some(i) = r
                    .iter()
                    .position(|(m, _, on)| here(on) && contains(&buf[..n], m))
                {
                    *af.lock().unwrap() = r.remove(i).1;
                    st.store(LOSING, Ordering::SeqCst);
                }
            }
            if s_out.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = s_out.shutdown(Shutdown::Write);
    });
    // Server to client: throws the reply away once marked.
    let (mut s_in, mut c_out) = (
        server.try_clone().expect("clone"),
        client.try_clone().expect("clone"),
    );
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match s_in.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        match state.load(Ordering::SeqCst) {
            NORMAL if c_out.write_all(&buf[..n]).is_err() => break,
            NORMAL => {}
            LOSING => {
                lost.fetch_add(1, Ordering::Relaxed);
                // Let the rest of the reply arrive (and be dropped too).
                thread::sleep(Duration::from_millis(50));
                if *after.lock().unwrap() == AfterLoss::Reset {
                    reset(&client);
                    reset(&server);
                    break;
                }
                state.store(SILENT, Ordering::SeqCst);
            }
            _ => {}
        }
    }
    let _ = c_out.shutdown(Shutdown::Write);
    let _ = up.join();
}
