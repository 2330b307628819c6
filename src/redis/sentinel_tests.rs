//! The monitor against in-process fake sentinels and nodes (real sockets, scripted answers).

use super::*;
use crate::redis::resp::decode_reply;
use redis_protocol::resp2::types::OwnedFrame;
use std::sync::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What a fake answers: to `SENTINEL get-master-addr-by-name` (sentinel) or `ROLE` (node).
#[derive(Clone)]
pub(crate) enum Answer {
    Master(String),
    Role(&'static str, Vec<String>),
    Error,
}

pub(crate) struct Fake {
    pub(crate) addr: String,
    answer: Arc<Mutex<Answer>>,
}

impl Fake {
    pub(crate) async fn start(answer: Answer) -> Fake {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let answer = Arc::new(Mutex::new(answer));
        let a = answer.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let a = a.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    loop {
                        let Ok(n) = s.read(&mut chunk).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        while let Ok(Some((cmd, used))) = decode_reply(&buf) {
                            buf.drain(..used);
                            let reply = reply_to(&cmd, &a.lock().unwrap());
                            if s.write_all(&reply).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        Fake { addr, answer }
    }

    pub(crate) fn set(&self, a: Answer) {
        *self.answer.lock().unwrap() = a;
    }
}

fn bulk(s: &str) -> String {
    format!("${}\r\n{s}\r\n", s.len())
}

fn reply_to(cmd: &OwnedFrame, answer: &Answer) -> Vec<u8> {
    let OwnedFrame::Array(args) = cmd else {
        return b"-ERR protocol\r\n".to_vec();
    };
    let name = args
        .first()
        .and_then(crate::redis::resp::frame_str)
        .unwrap_or("");
    let text = match (name.to_ascii_uppercase().as_str(), answer) {
        ("SUBSCRIBE", _) => format!("*3\r\n{}{}:1\r\n", bulk("subscribe"), bulk("+sdown")),
        (_, Answer::Error) => "-ERR scripted failure\r\n".to_string(),
        ("SENTINEL", Answer::Master(a)) => {
            let (h, p) = a.rsplit_once(':').unwrap();
            format!("*2\r\n{}{}", bulk(h), bulk(p))
        }
        ("ROLE", Answer::Role("master", replicas)) => {
            let mut s = format!("*3\r\n{}:0\r\n*{}\r\n", bulk("master"), replicas.len());
            for r in replicas {
                let (h, p) = r.rsplit_once(':').unwrap();
                s.push_str(&format!("*3\r\n{}{}{}", bulk(h), bulk(p), bulk("0")));
            }
            s
        }
        ("ROLE", Answer::Role(_, _)) => format!(
            "*5\r\n{}{}:1\r\n{}:0\r\n",
            bulk("slave"),
            bulk("127.0.0.1"),
            bulk("connected")
        ),
        _ => "-ERR unexpected\r\n".to_string(),
    };
    text.into_bytes()
}

pub(crate) fn config(sentinels: &[&Fake]) -> Redis {
    let list: Vec<String> = sentinels.iter().map(|s| format!("{:?}", s.addr)).collect();
    toml::from_str(&format!(
        "name = \"t\"\nlisten = \"127.0.0.1:1\"\nmaster_name = \"dn\"\n\
         sentinels = [{}]\ncheck_interval = \"30ms\"\ncheck_timeout = \"200ms\"\n",
        list.join(", ")
    ))
    .unwrap()
}

async fn expect_master(rx: &mut MasterRx, want: Option<&str>) {
    let r = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if rx.borrow_and_update().as_deref() == want {
                return;
            }
            rx.changed().await.unwrap();
        }
    })
    .await;
    assert!(r.is_ok(), "master is {:?}, expected {want:?}", *rx.borrow());
}

pub(crate) fn role_master(replicas: &[&Fake]) -> Answer {
    Answer::Role("master", replicas.iter().map(|f| f.addr.clone()).collect())
}

#[tokio::test]
async fn lying_sentinel_is_outvoted_and_majority_moves_traffic() {
    let b = Fake::start(Answer::Role("slave", vec![])).await;
    let a = Fake::start(role_master(&[&b])).await;
    let foreign = Fake::start(role_master(&[])).await;
    let s1 = Fake::start(Answer::Master(a.addr.clone())).await;
    let s2 = Fake::start(Answer::Master(a.addr.clone())).await;
    let s3 = Fake::start(Answer::Master(foreign.addr.clone())).await;
    let status = Arc::new(ArcSwap::from_pointee(RedisStatus::default()));
    let stop = CancellationToken::new();
    let cfg = Arc::new(config(&[&s1, &s2, &s3]));
    let mut rx = spawn(cfg, "fake".into(), status.clone(), stop.clone());
    expect_master(&mut rx, Some(&a.addr)).await;
    let st = status.load();
    assert_eq!(st.quorum, 2);
    assert_eq!(
        st.sentinels[2].master.as_deref(),
        Some(foreign.addr.as_str())
    );
    // One more sentinel lies: no majority, the verified master is kept.
    s2.set(Answer::Master(b.addr.clone()));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(rx.borrow().as_deref(), Some(a.addr.as_str()));
    // A real failover: b promoted, a demoted, two sentinels agree.
    b.set(role_master(&[&a]));
    a.set(Answer::Role("slave", vec![]));
    s1.set(Answer::Master(b.addr.clone()));
    expect_master(&mut rx, Some(&b.addr)).await;
    assert!(status.load().master_changes >= 2);
    stop.cancel();
}

#[tokio::test]
async fn sentinels_down_keep_master_only_while_it_says_master() {
    let a = Fake::start(role_master(&[])).await;
    let sentinels = [
        Fake::start(Answer::Master(a.addr.clone())).await,
        Fake::start(Answer::Master(a.addr.clone())).await,
        Fake::start(Answer::Master(a.addr.clone())).await,
    ];
    let status = Arc::new(ArcSwap::from_pointee(RedisStatus::default()));
    let stop = CancellationToken::new();
    let cfg = Arc::new(config(&sentinels.iter().collect::<Vec<_>>()));
    let mut rx = spawn(cfg, "fake2".into(), status.clone(), stop.clone());
    expect_master(&mut rx, Some(&a.addr)).await;
    for s in &sentinels {
        s.set(Answer::Error);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(rx.borrow().as_deref(), Some(a.addr.as_str()));
    assert!(status.load().sentinels.iter().all(|s| !s.reachable));
    a.set(Answer::Role("slave", vec![]));
    expect_master(&mut rx, None).await;
    assert!(status.load().reason.contains("no sentinel majority"));
    stop.cancel();
}
