//! The MySQL client, the one-shot checks and the Galera monitor against the real 3-node
//! Galera cluster of the test lab (and, for the auth switch and PROXY header, a scripted server).

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use datagate::config::Galera;
use datagate::health::galera::{
    ClusterSnapshot, Role, check_galera_node, check_mysql, run_monitor,
};
use datagate::mysql::auth::{double_sha1, sha1_password, verify_reply};
use datagate::mysql::client::{ClientError, ConnectOptions, Connection, Password};
use datagate::mysql::codec::{BytesMut, PacketCodec};
use datagate::mysql::packets::{
    AuthSwitchRequest, CapabilityFlags, ClientHello, Handshake, HandshakeResponse, OkPacket,
};
use support::{APP_DB, APP_PASSWORD, APP_USER, MONITOR_PASSWORD, MONITOR_USER};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

const TIMEOUT: Duration = Duration::from_secs(5);

fn opts(n: usize, user: &str, password: Password, db: Option<&str>) -> ConnectOptions {
    ConnectOptions {
        addr: support::galera().addr(n),
        user: user.into(),
        password,
        database: db.map(str::to_string),
        connect_timeout: TIMEOUT,
        proxy_header: None,
    }
}

fn app(n: usize) -> ConnectOptions {
    opts(
        n,
        APP_USER,
        Password::Cleartext(APP_PASSWORD.into()),
        Some(APP_DB),
    )
}

#[tokio::test]
async fn login_query_and_ping() {
    let mut c = Connection::connect(&app(1)).await.expect("app/app logs in");
    assert!(c.handshake().server_version.contains("MariaDB"));
    c.ping().await.unwrap();
    let rows = c.query("SELECT 1, NULL, 'x', DATABASE()").await.unwrap();
    assert_eq!(
        rows,
        vec![vec![
            Some("1".into()),
            None,
            Some("x".into()),
            Some(APP_DB.into())
        ]]
    );
    let rows = c
        .query("SELECT seq, seq * 2 FROM seq_1_to_5")
        .await
        .unwrap();
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[4], vec![Some("5".into()), Some("10".into())]);
    // A statement without a result set, and the transaction flag from the server.
    assert!(c.query("BEGIN").await.unwrap().is_empty());
    assert!(
        c.status()
            .contains(datagate::mysql::packets::StatusFlags::SERVER_STATUS_IN_TRANS)
    );
    c.query("ROLLBACK").await.unwrap();
    // A server error keeps its code and SQLSTATE and leaves the connection usable.
    let e = c.query("SELECT * FROM no_such_table").await.unwrap_err();
    let ClientError::Server(err) = &e else {
        panic!("{e}")
    };
    assert_eq!((err.code, err.sqlstate.as_str()), (1146, "42S02"));
    assert_eq!(
        c.query("SELECT 2").await.unwrap(),
        vec![vec![Some("2".into())]]
    );
    c.quit().await;
}

#[tokio::test]
async fn sixteen_mib_packets_both_ways() {
    let mut c = Connection::connect(&app(1)).await.unwrap();
    // COM_QUERY payload of exactly 0xFFFFFF bytes: sent as a full chunk plus an empty one.
    let (head, tail) = ("SELECT LENGTH('", "')");
    let n = 0xFF_FFFF - 1 - head.len() - tail.len();
    let sql = format!("{head}{}{tail}", "a".repeat(n));
    assert_eq!(
        c.query(&sql).await.unwrap(),
        vec![vec![Some(n.to_string())]]
    );
    // A row larger than 16 MiB arrives in two chunks and is merged.
    let rows = c.query("SELECT REPEAT('b', 16777216)").await.unwrap();
    assert_eq!(rows[0][0].as_ref().map(String::len), Some(16_777_216));
    assert_eq!(
        c.query("SELECT 3").await.unwrap(),
        vec![vec![Some("3".into())]]
    );
}

/// A scripted server: reads one packet from `s`.
async fn read_pkt(s: &mut TcpStream, codec: &mut PacketCodec, buf: &mut BytesMut) -> Vec<u8> {
    loop {
        if let Some(p) = codec.decode(buf).unwrap() {
            return p.payload.to_vec();
        }
        assert!(s.read_buf(buf).await.unwrap() > 0, "client closed");
    }
}

async fn write_pkt(s: &mut TcpStream, codec: &mut PacketCodec, payload: &[u8]) {
    let mut out = BytesMut::new();
    codec.encode(payload, &mut out).unwrap();
    s.write_all(&out).await.unwrap();
}

#[tokio::test]
async fn proxy_header_and_auth_switch_to_native_password() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let server = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut hdr = [0u8; 5];
        s.read_exact(&mut hdr).await.unwrap();
        assert_eq!(&hdr, b"PROXY");
        let (mut codec, mut buf) = (PacketCodec::new(1 << 20), BytesMut::new());
        let hs = Handshake {
            server_version: "8.0.36".into(),
            connection_id: 9,
            scramble: vec![b'a'; 20],
            capabilities: CapabilityFlags::from_bits_retain(0x81FF_F7FF),
            charset: 255,
            auth_plugin: "caching_sha2_password".into(),
            ..Handshake::default()
        };
        write_pkt(&mut s, &mut codec, &hs.build()).await;
        let hello = read_pkt(&mut s, &mut codec, &mut buf).await;
        let ClientHello::Login(login) = HandshakeResponse::parse(&hello).unwrap() else {
            panic!("SSL request")
        };
        assert_eq!(
            (login.user.as_str(), login.database.as_deref()),
            ("u", Some("db"))
        );
        let switch = AuthSwitchRequest {
            plugin: "mysql_native_password".into(),
            data: vec![b'z'; 20],
        };
        write_pkt(&mut s, &mut codec, &switch.build()).await;
        let reply = read_pkt(&mut s, &mut codec, &mut buf).await;
        assert!(verify_reply(&switch.data, &reply, &double_sha1(b"pw")));
        write_pkt(
            &mut s,
            &mut codec,
            &OkPacket::default().build(login.fixed.capabilities, 0),
        )
        .await;
        codec.reset_seq();
        assert_eq!(read_pkt(&mut s, &mut codec, &mut buf).await, [0x0E]); // COM_PING
        write_pkt(
            &mut s,
            &mut codec,
            &OkPacket::default().build(login.fixed.capabilities, 0),
        )
        .await;
    });
    let o = ConnectOptions {
        addr,
        user: "u".into(),
        password: Password::Cleartext("pw".into()),
        database: Some("db".into()),
        connect_timeout: TIMEOUT,
        proxy_header: Some(b"PROXY".to_vec()),
    };
    let mut c = Connection::connect(&o).await.unwrap();
    c.ping().await.unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn login_from_sha1_of_the_password() {
    let pw = Password::Sha1(sha1_password(APP_PASSWORD.as_bytes()));
    let mut c = Connection::connect(&opts(2, APP_USER, pw, None))
        .await
        .unwrap();
    assert_eq!(
        c.query("SELECT CURRENT_USER()").await.unwrap()[0][0].as_deref(),
        Some("app@127.0.0.1")
    );
}

#[tokio::test]
async fn wrong_password_is_1045() {
    let e = Connection::connect(&opts(1, APP_USER, Password::Cleartext("nope".into()), None))
        .await
        .unwrap_err();
    assert_eq!(e.server_code(), Some(1045), "{e}");
    let ClientError::Server(err) = e else {
        unreachable!()
    };
    assert_eq!(err.sqlstate, "28000");
}

#[tokio::test]
async fn checks() {
    let lab = support::galera();
    check_mysql(&lab.addr(3), None, TIMEOUT).await.unwrap();
    check_mysql(
        &lab.addr(3),
        Some((MONITOR_USER, MONITOR_PASSWORD)),
        TIMEOUT,
    )
    .await
    .unwrap();
    let e = check_mysql(&lab.addr(3), Some((MONITOR_USER, "bad")), TIMEOUT)
        .await
        .unwrap_err();
    assert_eq!(e.server_code(), Some(1045));
    let s = check_galera_node(&lab.addr(3), MONITOR_USER, MONITOR_PASSWORD, TIMEOUT)
        .await
        .unwrap();
    assert_eq!(
        (s.cluster_status.as_str(), s.local_state, s.cluster_size),
        ("Primary", 4, 3)
    );
    assert!(s.may_serve(false).is_ok(), "{s:?}");
    // Nothing listening.
    let free = support::free_port();
    assert!(
        check_mysql(&format!("127.0.0.1:{free}"), None, TIMEOUT)
            .await
            .is_err()
    );
}

fn galera_cfg(interval: &str) -> Galera {
    let toml = support::galera()
        .config_section("galera")
        .replace("250ms", interval);
    let cfg: datagate::config::Config = toml::from_str(&toml).unwrap();
    cfg.galera.into_iter().next().unwrap()
}

async fn wait_for(
    rx: &mut watch::Receiver<Arc<ClusterSnapshot>>,
    timeout: Duration,
    f: impl Fn(&ClusterSnapshot) -> bool,
) -> Result<Arc<ClusterSnapshot>, Arc<ClusterSnapshot>> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let snap = rx.borrow_and_update().clone();
        if f(&snap) {
            return Ok(snap);
        }
        if tokio::time::timeout_at(deadline, rx.changed())
            .await
            .is_err()
        {
            return Err(snap);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::await_holding_lock)] // the guard serialises lab-changing tests, by design
async fn monitor_sees_three_serving_and_drops_a_desynced_node() {
    let lab = support::galera();
    let _serial = support::serial();
    let _heal = lab.heal_on_drop();
    let interval = Duration::from_millis(500);
    let cfg = galera_cfg("500ms");
    let (tx, mut rx) = watch::channel(Arc::new(ClusterSnapshot::default()));
    let stop = CancellationToken::new();
    let task = tokio::spawn(run_monitor(cfg, tx, stop.clone()));

    let serving3 = |s: &ClusterSnapshot| s.serving().count() == 3;
    let snap = wait_for(&mut rx, Duration::from_secs(10), serving3)
        .await
        .unwrap_or_else(|s| panic!("{s:#?}"));
    let masters: Vec<_> = snap
        .servers
        .iter()
        .filter(|s| s.role == Role::Master)
        .collect();
    assert_eq!(masters.len(), 1, "{snap:#?}");
    assert_eq!(snap.master.as_deref(), Some(masters[0].address.as_str()));
    assert_eq!(snap.readers().count(), 2);
    let json = serde_json::to_value(&*snap).unwrap();
    assert_eq!(json["servers"][0]["state"], "up");

    // Desync a reader: out of the serving set within one interval (plus the round in flight).
    let victim = snap
        .servers
        .iter()
        .position(|s| s.role == Role::Reader)
        .unwrap()
        + 1;
    let master = snap.master.clone();
    tokio::task::spawn_blocking(move || support::galera().desync(victim))
        .await
        .unwrap();
    let t0 = Instant::now();
    let addr = lab.addr(victim);
    let out = |s: &ClusterSnapshot| {
        s.servers
            .iter()
            .any(|x| x.address == addr && x.role == Role::Desynced)
    };
    let snap = wait_for(&mut rx, 4 * interval, out)
        .await
        .unwrap_or_else(|s| panic!("{s:#?}"));
    let took = t0.elapsed();
    assert!(
        took <= 2 * interval + Duration::from_millis(200),
        "took {took:?}"
    );
    assert_eq!(snap.serving().count(), 2);
    assert_eq!(
        snap.master, master,
        "a reader leaving does not move the master"
    );
    let e = snap.servers[victim - 1].last_error.as_deref().unwrap_or("");
    assert!(e.contains("wsrep_desync"), "{e}");

    tokio::task::spawn_blocking(move || support::galera().resync(victim))
        .await
        .unwrap();
    wait_for(&mut rx, Duration::from_secs(10), serving3)
        .await
        .unwrap_or_else(|s| panic!("{s:#?}"));
    let snap = rx.borrow().clone();
    assert_eq!(
        snap.master, master,
        "a reader's return does not move the master"
    );

    // Desync the master: another node takes over within one interval.
    let changes = || {
        datagate::admin::metrics::metrics()
            .mysql_master_changes_total
            .with_label_values(&["galera"])
            .get()
    };
    let before = changes();
    let old = snap.master.clone().unwrap();
    let old_addr = old.clone();
    let old_n = snap.servers.iter().position(|s| s.address == old).unwrap() + 1;
    tokio::task::spawn_blocking(move || support::galera().desync(old_n))
        .await
        .unwrap();
    let t0 = Instant::now();
    let moved =
        |s: &ClusterSnapshot| s.master.is_some() && s.master.as_deref() != Some(old.as_str());
    let snap = wait_for(&mut rx, 4 * interval, moved)
        .await
        .unwrap_or_else(|s| panic!("{s:#?}"));
    assert!(
        t0.elapsed() <= 2 * interval + Duration::from_millis(200),
        "took {:?}",
        t0.elapsed()
    );
    assert_eq!(changes(), before + 1);
    let new_master = snap.master.clone();
    tokio::task::spawn_blocking(move || support::galera().resync(old_n))
        .await
        .unwrap();
    // The old master ran the longest and serves again without a restart: it takes the role
    // back (every instance computes the same), once, and that is counted.
    let snap = wait_for(&mut rx, Duration::from_secs(10), |s| {
        serving3(s) && s.master.as_deref() == Some(old_addr.as_str())
    })
    .await
    .unwrap_or_else(|s| panic!("{s:#?}"));
    assert_ne!(new_master, snap.master);
    assert_eq!(changes(), before + 2);

    let text = datagate::admin::metrics::metrics().render();
    assert!(
        text.contains("datagate_backend_up{group=\"galera\""),
        "{text}"
    );
    assert!(text.contains("role=\"desynced\""));
    stop.cancel();
    task.await.unwrap();
}
