//! Admin plane: Prometheus metrics, health endpoints, the JSON API and its CLI client.

pub mod ctl;
pub mod http;
pub mod metrics;
