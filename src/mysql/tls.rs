//! TLS for `[[mysql]]` clients (tokio-rustls with the ring provider): the certificate chain and
//! key are read once when the listener starts.

use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::{self, ServerConfig};

use crate::config::Tls;

/// Why the TLS material could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}: no certificate found")]
    NoCert(String),
    #[error("{0}: no private key found")]
    NoKey(String),
    #[error("tls: {0}")]
    Rustls(#[from] rustls::Error),
}

fn reader(path: &Path) -> Result<BufReader<std::fs::File>, TlsError> {
    std::fs::File::open(path)
        .map(BufReader::new)
        .map_err(|source| TlsError::Read {
            path: path.display().to_string(),
            source,
        })
}

/// Builds the acceptor for `cfg` (PEM certificate chain and private key).
pub fn acceptor(cfg: &Tls) -> Result<TlsAcceptor, TlsError> {
    let certs: Vec<_> = rustls_pemfile::certs(&mut reader(&cfg.cert)?)
        .collect::<Result<_, _>>()
        .map_err(|source| TlsError::Read {
            path: cfg.cert.display().to_string(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCert(cfg.cert.display().to_string()));
    }
    let key = rustls_pemfile::private_key(&mut reader(&cfg.key)?)
        .map_err(|source| TlsError::Read {
            path: cfg.key.display().to_string(),
            source,
        })?
        .ok_or_else(|| TlsError::NoKey(cfg.key.display().to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_empty_files() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let cfg = |c: &Path, k: &Path| Tls {
            cert: c.to_path_buf(),
            key: k.to_path_buf(),
        };
        let missing = dir.path().join("missing.pem");
        assert!(matches!(
            acceptor(&cfg(&missing, &empty)),
            Err(TlsError::Read { .. })
        ));
        assert!(matches!(
            acceptor(&cfg(&empty, &empty)),
            Err(TlsError::NoCert(_))
        ));
    }
}
