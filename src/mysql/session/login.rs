//! A client's login: greet as the master, check the password against the loaded accounts (the
//! session then logs in to the master as the same account, see `Session::first_master`).

use std::net::SocketAddr;

use super::super::auth::{NATIVE_PASSWORD, new_scramble};
use super::super::backend::{BackendError, Login};
use super::super::frontend::{
    ClientConn, FrontendError, authenticate, frame_head, greeting, login_from,
};
use super::super::packets::{AuthSwitchRequest, ClientHello, HandshakeResponse, PacketError};
use super::super::shared::Shared;

/// Why a login ended without a session; the client has been told when it could be.
#[derive(Debug)]
pub enum LoginFailure {
    /// Counted in `listener_rejected_total` with this reason.
    Rejected(&'static str),
    /// The client went away.
    Gone,
}

/// A client whose password was checked, waiting for the OK (sequence id `seq`) that the
/// session sends once it has a master connection.
pub struct LoggedIn {
    pub client: ClientConn,
    pub login: Login,
    pub scramble: Vec<u8>,
    pub seq: u8,
}

/// Sends a backend error to the client as an ERR packet.
pub async fn report_backend_error(client: &mut ClientConn, seq: u8, e: &BackendError) {
    match e {
        BackendError::Server(err) => {
            let _ = client.send(seq, &err.build()).await;
        }
        e @ BackendError::PoolFull { .. } => {
            let msg = format!("datagate: {e} (waited connect_timeout)");
            client.send_err(seq, 1040, "08004", &msg).await
        }
        e => {
            client
                .send_err(
                    seq,
                    2003,
                    "HY000",
                    &format!("datagate: cannot connect to the master: {e}"),
                )
                .await
        }
    }
}

/// Sends an ERR before the handshake (the client knows no capabilities yet: no SQLSTATE).
async fn refuse_before_greeting(client: &mut ClientConn, code: u16, msg: &str) {
    let mut err = vec![0xFF];
    err.extend_from_slice(&code.to_le_bytes());
    err.extend_from_slice(msg.as_bytes());
    let _ = client.send(0, &err).await;
}

/// Runs the client's side of the login within `handshake_timeout`: greets the client as the
/// cluster (from what the monitor saw, so that no server is contacted before the client
/// proved who it is) and checks the password against the loaded accounts. `connection_id` is
/// the session's id in the listener's registry.
pub async fn login(
    shared: &Shared,
    mut client: ClientConn,
    peer: SocketAddr,
    connection_id: u32,
) -> Result<LoggedIn, LoginFailure> {
    let Some(template) = shared.greeting_template().await else {
        tracing::warn!(listener = %shared.ctx.name, "no cluster node has answered the monitor yet; refusing a new client");
        let msg = "datagate: cannot connect to the master: no cluster node answers";
        refuse_before_greeting(&mut client, 2003, msg).await;
        return Err(LoginFailure::Rejected("no_master"));
    };
    let scramble = new_scramble().to_vec();
    let hello = greeting(&template, connection_id, &scramble, shared.tls.is_some());
    if client.send(0, &hello.build()).await.is_err() {
        return Err(LoginFailure::Gone);
    }
    let limit = shared.cfg.handshake_timeout.0;
    let (resp, seq, reply) = match tokio::time::timeout(
        limit,
        read_login(&mut client, &scramble, shared.tls.as_ref()),
    )
    .await
    {
        Err(_) => return Err(LoginFailure::Rejected("handshake_timeout")),
        Ok(r) => r?,
    };
    let ip = peer.ip();
    let mut users = shared.users.table();
    if users.is_empty() {
        shared.users.reload_if_stale().await;
        users = shared.users.table();
    }
    let mut auth = authenticate(&users, &resp.user, ip, &scramble, &reply);
    if matches!(&auth, Err(r) if r.retry_after_reload) {
        shared.users.reload_if_stale().await;
        auth = authenticate(&shared.users.table(), &resp.user, ip, &scramble, &reply);
    }
    let sha1 = match auth {
        Ok(h) => h,
        Err(r) => {
            tracing::info!(listener = %shared.ctx.name, user = %resp.user, %ip, error = %r.message, "login refused");
            client.send_err(seq, r.code, r.sqlstate, &r.message).await;
            return Err(LoginFailure::Rejected("auth"));
        }
    };
    let login = login_from(&resp, sha1, hello.capabilities, hello.mariadb_capabilities);
    client.logged_in(shared.cfg.max_allowed_packet);
    Ok(LoggedIn {
        client,
        login,
        scramble,
        seq,
    })
}

/// Reads the client's login (and an auth switch reply when it used another plugin); returns the
/// response, the sequence id our answer must carry and the mysql_native_password reply.
async fn read_login(
    client: &mut ClientConn,
    scramble: &[u8],
    tls: Option<&tokio_rustls::TlsAcceptor>,
) -> Result<(HandshakeResponse, u8, Vec<u8>), LoginFailure> {
    let mut frame = match client.read_frame().await {
        Ok(f) => f,
        Err(e) => return Err(read_failure(client, e).await),
    };
    if let (Some(acceptor), Ok(ClientHello::Ssl(_))) =
        (tls, HandshakeResponse::parse(frame_head(&frame).0))
    {
        if let Err(e) = client.start_tls(acceptor).await {
            tracing::debug!(error = %e, "TLS handshake failed");
            return Err(LoginFailure::Rejected("tls_handshake"));
        }
        frame = match client.read_frame().await {
            Ok(f) => f,
            Err(e) => return Err(read_failure(client, e).await),
        };
    }
    let (payload, seq) = frame_head(&frame);
    let resp = match HandshakeResponse::parse(payload) {
        Ok(ClientHello::Login(r)) => r,
        Ok(ClientHello::Ssl(_)) => {
            client
                .send_err(
                    seq.wrapping_add(1),
                    1045,
                    "08S01",
                    "SSL is not configured on this listener",
                )
                .await;
            return Err(LoginFailure::Rejected("ssl_not_configured"));
        }
        Err(e) => {
            let msg = match e {
                PacketError::Compressed => "the compressed protocol is not supported".to_string(),
                e => format!("Bad handshake: {e}"),
            };
            client
                .send_err(seq.wrapping_add(1), 1043, "08S01", &msg)
                .await;
            return Err(LoginFailure::Rejected("bad_handshake"));
        }
    };
    let native = resp
        .auth_plugin
        .as_deref()
        .is_none_or(|p| p == NATIVE_PASSWORD);
    if native {
        let reply = resp.auth_response.clone();
        return Ok((resp, seq.wrapping_add(1), reply));
    }
    let switch = AuthSwitchRequest {
        plugin: NATIVE_PASSWORD.to_string(),
        data: scramble.to_vec(),
    };
    if client
        .send(seq.wrapping_add(1), &switch.build())
        .await
        .is_err()
    {
        return Err(LoginFailure::Gone);
    }
    let frame = match client.read_frame().await {
        Ok(f) => f,
        Err(e) => return Err(read_failure(client, e).await),
    };
    let (payload, seq) = frame_head(&frame);
    Ok((resp, seq.wrapping_add(1), payload.to_vec()))
}

async fn read_failure(client: &mut ClientConn, e: FrontendError) -> LoginFailure {
    match e {
        FrontendError::Codec(_) => {
            client
                .send_err(
                    1,
                    1153,
                    "08S01",
                    "Got a packet bigger than 'max_allowed_packet' bytes",
                )
                .await;
            client.linger().await;
            LoginFailure::Rejected("max_allowed_packet")
        }
        FrontendError::Closed => LoginFailure::Rejected("closed_in_handshake"),
        FrontendError::Io(_) => LoginFailure::Gone,
    }
}
