//! A RESP connection to a sentinel or a Redis node (the I/O around the pure codec in `resp`).

use std::time::Duration;

use bytes::{Buf, BytesMut};
use redis_protocol::resp2::types::OwnedFrame;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::resp::{RespError, decode_reply, encode_command};

/// One connection to a sentinel or a node, with its read buffer.
pub struct Conn {
    stream: TcpStream,
    buf: BytesMut,
    timeout: Duration,
}

impl Conn {
    /// Connects within `timeout`; later commands use the same timeout.
    pub async fn connect(addr: &str, timeout: Duration) -> Result<Conn, RespError> {
        let stream = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Err(_) => return Err(RespError::Timeout(timeout)),
            Ok(Err(source)) => {
                return Err(RespError::Connect {
                    addr: addr.to_string(),
                    source,
                });
            }
            Ok(Ok(s)) => s,
        };
        let _ = stream.set_nodelay(true);
        Ok(Conn {
            stream,
            buf: BytesMut::with_capacity(512),
            timeout,
        })
    }

    /// Writes one command.
    pub async fn send(&mut self, args: &[&[u8]]) -> Result<(), RespError> {
        self.stream.write_all(&encode_command(args)).await?;
        Ok(())
    }

    /// Reads the next reply, waiting as long as it takes (pub/sub).
    pub async fn read_reply(&mut self) -> Result<OwnedFrame, RespError> {
        loop {
            if let Some((frame, used)) = decode_reply(&self.buf)? {
                self.buf.advance(used);
                return Ok(frame);
            }
            if self.stream.read_buf(&mut self.buf).await? == 0 {
                return Err(RespError::Closed);
            }
        }
    }

    /// Sends a command and reads its reply within the timeout; an error reply is an `Err`.
    pub async fn command(&mut self, args: &[&[u8]]) -> Result<OwnedFrame, RespError> {
        let t = self.timeout;
        let exchange = async {
            self.send(args).await?;
            self.read_reply().await
        };
        match tokio::time::timeout(t, exchange).await {
            Err(_) => Err(RespError::Timeout(t)),
            Ok(Ok(OwnedFrame::Error(e))) => Err(RespError::Server(e)),
            Ok(r) => r,
        }
    }

    /// `AUTH password`.
    pub async fn auth(&mut self, password: &str) -> Result<(), RespError> {
        self.command(&[b"AUTH", password.as_bytes()])
            .await
            .map(|_| ())
    }
}
