//! `dist/grafana/datagate.json`: a Grafana dashboard that imports (schema, grid, datasource
//! variable) and queries only metrics the README documents.

use serde_json::Value;

const DASHBOARD: &str = include_str!("../dist/grafana/datagate.json");
const README: &str = include_str!("../README.md");
const PREFIX: &str = "datagate_";

fn dashboard() -> Value {
    serde_json::from_str(DASHBOARD).expect("dist/grafana/datagate.json is not valid JSON")
}

/// Every panel that shows data (rows only group them; a collapsed row holds its own panels).
fn panels(d: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().expect("panels") {
        if p["type"] == "row" {
            out.extend(p["panels"].as_array().into_iter().flatten());
        } else {
            out.push(p);
        }
    }
    out
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'
}

/// The `datagate_[a-z0-9_]+` identifiers of a PromQL expression.
fn metric_names(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(i) = rest.find(PREFIX) {
        let before = rest[..i].chars().next_back();
        let tail = &rest[i..];
        let end = tail.find(|c: char| !is_name_char(c)).unwrap_or(tail.len());
        if !before.is_some_and(is_name_char) {
            out.push(tail[..end].to_string());
        }
        rest = &tail[end..];
    }
    out
}

/// The README's "Admin API and metrics" section, where the metrics are listed.
fn metrics_section() -> &'static str {
    let start = README
        .find("## Admin API and metrics")
        .expect("README has an \"Admin API and metrics\" section");
    let body = &README[start + 3..];
    &README[start..start + 3 + body.find("\n## ").unwrap_or(body.len())]
}

/// Whether `name` is listed as a metric: `` `name{labels}` `` or `` `name` ``, with or without the
/// `datagate_` prefix (which the README states once). A label name (inside `{...}`) does not count.
fn documented(section: &str, name: &str) -> bool {
    let short = name.strip_prefix(PREFIX).unwrap_or(name);
    section.match_indices(short).any(|(i, _)| {
        let before = &section[..i];
        let opens = before.ends_with('`') || before.ends_with(&format!("`{PREFIX}"));
        let after = section[i + short.len()..].chars().next();
        opens && matches!(after, Some('{' | '`'))
    })
}

/// A histogram's series (`_bucket`, `_sum`, `_count`) are documented under its base name.
fn base_name(section: &str, name: &str) -> String {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix)
            && !documented(section, name)
            && documented(section, base)
        {
            return base.to_string();
        }
    }
    name.to_string()
}

#[test]
fn dashboard_is_a_grafana_dashboard() {
    let d = dashboard();
    assert!(d["schemaVersion"].as_u64().is_some_and(|v| v >= 30));
    assert!(d["title"].as_str().is_some_and(|t| !t.is_empty()));
    let vars = d["templating"]["list"].as_array().expect("templating.list");
    assert!(
        vars.iter()
            .any(|v| v["type"] == "datasource" && v["query"] == "prometheus"),
        "no prometheus datasource variable"
    );
    let ds_var = vars
        .iter()
        .find(|v| v["type"] == "datasource")
        .and_then(|v| v["name"].as_str())
        .expect("datasource variable name");
    let ps = panels(&d);
    assert!(ps.len() >= 6, "only {} panels", ps.len());
    let mut ids = std::collections::HashSet::new();
    let rows = d["panels"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["type"] == "row");
    for p in rows.chain(ps.iter().copied()) {
        let title = p["title"].as_str().unwrap_or("?");
        assert!(
            ids.insert(p["id"].to_string()),
            "duplicate panel id: {title}"
        );
        let g = &p["gridPos"];
        for k in ["h", "w", "x", "y"] {
            assert!(g[k].is_u64(), "panel {title:?}: gridPos.{k}");
        }
        assert!(
            g["x"].as_u64().unwrap() + g["w"].as_u64().unwrap() <= 24,
            "{title:?} overflows the grid"
        );
    }
    for p in ps {
        let title = p["title"].as_str().unwrap_or("?");
        assert_eq!(
            p["datasource"]["uid"],
            format!("${{{ds_var}}}"),
            "panel {title:?}"
        );
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "panel {title:?} has no query");
        for t in targets {
            let expr = t["expr"].as_str().expect("expr");
            assert!(!metric_names(expr).is_empty(), "panel {title:?}: {expr}");
        }
    }
}

#[test]
fn dashboard_uses_only_documented_metrics() {
    let section = metrics_section();
    let mut undocumented = Vec::new();
    let mut used = std::collections::BTreeSet::new();
    for p in panels(&dashboard()) {
        for t in p["targets"].as_array().into_iter().flatten() {
            for name in metric_names(t["expr"].as_str().unwrap_or("")) {
                let base = base_name(section, &name);
                if !documented(section, &base) {
                    undocumented.push(format!("{}: {name}", p["title"]));
                }
                used.insert(base);
            }
        }
    }
    assert!(
        undocumented.is_empty(),
        "metrics not in the README: {undocumented:?}"
    );
    assert!(used.len() >= 6, "{used:?}");
}

#[test]
fn metric_names_are_found_and_checked_whole() {
    assert_eq!(
        metric_names("sum(rate(datagate_bytes_total{x=\"datagate_no\"}[1m])) / xdatagate_y"),
        ["datagate_bytes_total", "datagate_no"]
    );
    let section = "Metrics (prefix `datagate_`): `bytes_total{listener}`, `vrrp_state{state}`, \
                   `mysql_query_duration_seconds{listener,route}`, `datagate_vrrp_priority`";
    assert!(documented(section, "datagate_bytes_total"));
    assert!(!documented(section, "datagate_bytes"));
    assert!(!documented(section, "datagate_state"));
    assert_eq!(
        base_name(section, "datagate_mysql_query_duration_seconds_bucket"),
        "datagate_mysql_query_duration_seconds"
    );
    assert_eq!(
        base_name(section, "datagate_bytes_total_count"),
        "datagate_bytes_total"
    );
    assert!(!documented(section, "datagate_vrrp_state_count"));
    assert!(
        !documented(section, "datagate_listener"),
        "a label is not a metric"
    );
    assert!(documented(section, "datagate_vrrp_priority"));
}
