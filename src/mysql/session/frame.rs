//! Making a command ready for one backend connection: as the client wrote it, or with the
//! connection's own statement id (preparing the statement there first) and the parameter
//! types the connection has not seen yet.

use std::borrow::Cow;

use super::super::backend::BackendError;
use super::super::frontend::frame_head;
use super::super::packets::CapabilityFlags;
use super::super::reply::cmd;
use std::sync::Arc;

use super::super::conn::{Conn, one_packet};
use super::prepared::{ExecTypes, Statements, bind_types, exec_types, set_stmt_id};

/// What a command is, for the statement ids it carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmd {
    /// Sent as the client wrote it.
    Plain,
    /// COM_STMT_PREPARE; the OK gets this client statement id.
    Prepare(u32),
    /// COM_STMT_* naming this client statement: rewritten for each backend.
    Stmt(u32),
}

/// Why a command could not be made ready for a backend.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The backend refused to prepare the statement (the client gets this ERR text).
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Backend(#[from] BackendError),
}

/// The frame to send to `conn` for a command: as is, or with the connection's own statement id
/// (preparing the statement there first) and the parameter types it has not seen yet.
pub async fn backend_frame<'f>(
    conn: &mut Conn,
    stmts: &mut Statements,
    frame: &'f [u8],
    cmd: Cmd,
    caps: CapabilityFlags,
) -> Result<Cow<'f, [u8]>, FrameError> {
    let Cmd::Stmt(id) = cmd else {
        return Ok(Cow::Borrowed(frame));
    };
    let Some(st) = stmts.get_mut(id) else {
        return Err(FrameError::Refused(format!(
            "Unknown prepared statement handler ({id}) given to datagate"
        )));
    };
    let prepare = st.prepare.clone();
    let (backend_id, conn_types) = match conn.stmts.get(&prepare) {
        Some((bid, types)) => (bid, types.map(<[u8]>::to_vec)),
        None => match conn.prepare(&prepare, caps).await? {
            Some(bid) => {
                remember_prepared(conn, prepare.clone(), bid).await?;
                (bid, None)
            }
            None => {
                return Err(FrameError::Refused(format!(
                    "datagate: server {} refused to prepare statement {id}",
                    conn.addr()
                )));
            }
        },
    };
    let mut f = frame.to_vec();
    set_stmt_id(&mut f, backend_id);
    let payload = frame_head(frame).0;
    if payload.first() == Some(&cmd::STMT_EXECUTE) {
        match exec_types(payload, st.params) {
            Ok(ExecTypes::Bound(types)) => {
                if st.types.as_deref() != Some(types) {
                    st.types = Some(types.to_vec());
                }
                conn.stmts.set_types(&prepare, types);
            }
            // The server would use the types it saw last for the statement, maybe bound by
            // another session (or on another connection): give it the session's own.
            Ok(ExecTypes::Unbound) if conn_types != st.types => {
                if let Some(t) = st.types.as_deref()
                    && let Some(bound) = bind_types(&f, st.params, t)
                {
                    f = bound;
                    conn.stmts.set_types(&prepare, t);
                }
            }
            _ => {}
        }
    }
    Ok(Cow::Owned(f))
}

/// Records that `conn` has `prepare` as server statement `id`; a statement it replaces or
/// evicts from the cache is closed on the server (COM_STMT_CLOSE has no reply).
pub async fn remember_prepared(
    conn: &mut Conn,
    prepare: Arc<[u8]>,
    id: u32,
) -> Result<(), BackendError> {
    if let Some(old) = conn.stmts.insert(prepare, id) {
        let mut close = vec![cmd::STMT_CLOSE];
        close.extend_from_slice(&old.to_le_bytes());
        conn.send(&one_packet(&close)).await?;
    }
    Ok(())
}
