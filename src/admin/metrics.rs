//! The process-wide Prometheus registry and every metric named in the design (prefix `datagate_`).

use std::sync::OnceLock;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// Latency buckets from 50µs to 10s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0,
];

/// All datagate metrics; get them with [`metrics()`].
pub struct Metrics {
    pub registry: Registry,
    pub listener_connections_total: IntCounterVec,
    pub listener_active_connections: IntGaugeVec,
    pub listener_rejected_total: IntCounterVec,
    pub backend_up: IntGaugeVec,
    pub backend_role: IntGaugeVec,
    pub backend_connections_active: IntGaugeVec,
    pub backend_check_duration_seconds: HistogramVec,
    pub mysql_queries_total: IntCounterVec,
    pub mysql_query_duration_seconds: HistogramVec,
    pub mysql_master_changes_total: IntCounterVec,
    pub mysql_session_replays_total: IntCounterVec,
    pub mysql_backend_connections: IntGaugeVec,
    pub mysql_transaction_replays_total: IntCounterVec,
    pub redis_master_changes_total: IntCounterVec,
    pub bytes_total: IntCounterVec,
    pub vrrp_state: IntGaugeVec,
    pub vrrp_transitions_total: IntCounterVec,
    pub vrrp_priority: IntGauge,
    pub config_reloads_total: IntCounterVec,
}

fn counter(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(format!("datagate_{name}"), help), labels)
        .expect("static metric definition");
    r.register(Box::new(c.clone())).expect("unique metric name");
    c
}

fn gauge(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(format!("datagate_{name}"), help), labels)
        .expect("static metric definition");
    r.register(Box::new(g.clone())).expect("unique metric name");
    g
}

fn histogram(r: &Registry, name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    let h = HistogramVec::new(
        HistogramOpts::new(format!("datagate_{name}"), help).buckets(LATENCY_BUCKETS.to_vec()),
        labels,
    )
    .expect("static metric definition");
    r.register(Box::new(h.clone())).expect("unique metric name");
    h
}

impl Metrics {
    fn new() -> Metrics {
        let r = Registry::new();
        let vrrp_priority = IntGauge::new("datagate_vrrp_priority", "Effective VRRP priority")
            .expect("static metric definition");
        r.register(Box::new(vrrp_priority.clone()))
            .expect("unique metric name");
        Metrics {
            listener_connections_total: counter(
                &r,
                "listener_connections_total",
                "Client connections accepted",
                &["listener"],
            ),
            listener_active_connections: gauge(
                &r,
                "listener_active_connections",
                "Client connections open now",
                &["listener"],
            ),
            listener_rejected_total: counter(
                &r,
                "listener_rejected_total",
                "Client connections refused or closed early, by reason",
                &["listener", "reason"],
            ),
            backend_up: gauge(
                &r,
                "backend_up",
                "1 when the server passes its health check",
                &["group", "server"],
            ),
            backend_role: gauge(
                &r,
                "backend_role",
                "1 for the server's current role",
                &["group", "server", "role"],
            ),
            backend_connections_active: gauge(
                &r,
                "backend_connections_active",
                "Proxied connections open to the server",
                &["group", "server"],
            ),
            backend_check_duration_seconds: histogram(
                &r,
                "backend_check_duration_seconds",
                "Duration of health checks",
                &["group", "server"],
            ),
            mysql_queries_total: counter(
                &r,
                "mysql_queries_total",
                "MySQL statements routed, by route",
                &["listener", "route"],
            ),
            mysql_query_duration_seconds: histogram(
                &r,
                "mysql_query_duration_seconds",
                "MySQL statement latency through the proxy",
                &["listener", "route"],
            ),
            mysql_master_changes_total: counter(
                &r,
                "mysql_master_changes_total",
                "Galera master changes",
                &["cluster"],
            ),
            mysql_session_replays_total: counter(
                &r,
                "mysql_session_replays_total",
                "Session histories replayed on a connection (a new one, a shared one in another state, a new master)",
                &["listener"],
            ),
            mysql_backend_connections: gauge(
                &r,
                "mysql_backend_connections",
                "Backend connections of a [[mysql]] listener, by state (idle: in the shared pool, in_use: held by a session)",
                &["listener", "state"],
            ),
            mysql_transaction_replays_total: counter(
                &r,
                "mysql_transaction_replays_total",
                "Open transactions replayed on a new master, by result (ok|failed)",
                &["listener", "result"],
            ),
            redis_master_changes_total: counter(
                &r,
                "redis_master_changes_total",
                "Redis master changes followed",
                &["listener"],
            ),
            bytes_total: counter(
                &r,
                "bytes_total",
                "Bytes relayed, by direction (in = from clients, out = to clients)",
                &["listener", "direction"],
            ),
            vrrp_state: gauge(&r, "vrrp_state", "1 for the current VRRP state", &["state"]),
            vrrp_transitions_total: counter(
                &r,
                "vrrp_transitions_total",
                "VRRP state transitions",
                &["from", "to"],
            ),
            config_reloads_total: counter(
                &r,
                "config_reloads_total",
                "Configuration reloads by result",
                &["result"],
            ),
            vrrp_priority,
            registry: r,
        }
    }

    /// Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let enc = TextEncoder::new();
        // Encoding into a Vec cannot fail for well-formed metric families.
        let _ = enc.encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// The process-wide metrics.
pub fn metrics() -> &'static Metrics {
    static M: OnceLock<Metrics> = OnceLock::new();
    M.get_or_init(Metrics::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_have_prefix_and_render() {
        let m = metrics();
        m.listener_rejected_total
            .with_label_values(&["t", "max_connections"])
            .inc();
        m.config_reloads_total.with_label_values(&["error"]).inc();
        let text = m.render();
        assert!(text.contains(
            "datagate_listener_rejected_total{listener=\"t\",reason=\"max_connections\"} 1"
        ));
        assert!(text.contains("datagate_config_reloads_total{result=\"error\"}"));
    }
}
