//! Admin plane: Prometheus metrics, health endpoints and the JSON API.

pub mod metrics;
