//! `maxscale.cnf` translation (placeholder while the HAProxy part is built).

use super::{ImportError, Imported};

/// Translates a MaxScale configuration.
pub fn maxscale(_src: &str) -> Result<Imported, ImportError> {
    Err(ImportError::Empty("MaxScale"))
}
