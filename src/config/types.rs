//! Small value types of the config file, each parsed from a string with a clear message.

use serde::{Deserialize, Deserializer, de};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A duration written as `"250ms"`, `"2s"`, `"1m"`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dur(pub Duration);

impl Dur {
    pub const fn secs(s: u64) -> Dur {
        Dur(Duration::from_secs(s))
    }
    pub const fn millis(ms: u64) -> Dur {
        Dur(Duration::from_millis(ms))
    }
    pub fn zero() -> Dur {
        Dur(Duration::ZERO)
    }
    pub fn one_sec() -> Dur {
        Dur::secs(1)
    }
    pub fn two_secs() -> Dur {
        Dur::secs(2)
    }
    pub fn three_secs() -> Dur {
        Dur::secs(3)
    }
    pub fn ten_secs() -> Dur {
        Dur::secs(10)
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(s.trim()).map(Dur).map_err(|e| {
            de::Error::custom(format!(
                "invalid duration {s:?} ({e}); write e.g. \"250ms\" or \"2s\""
            ))
        })
    }
}

/// A backend server: `"host:port"` or `{ addr = "host:port", name = "n1", backup = true, priority = 10 }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSpec {
    pub addr: String,
    pub name: String,
    pub backup: bool,
    pub priority: i32,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ServerRepr {
    Addr(String),
    Full(ServerTable),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerTable {
    addr: String,
    name: Option<String>,
    #[serde(default)]
    backup: bool,
    #[serde(default)]
    priority: i32,
}

impl<'de> Deserialize<'de> for ServerSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let repr = ServerRepr::deserialize(d).map_err(|_| {
            de::Error::custom(
                "a server is \"host:port\" or { addr = \"host:port\", name = \"..\", backup = true, priority = N }",
            )
        })?;
        let (addr, name, backup, priority) = match repr {
            ServerRepr::Addr(a) => (a, None, false, 0),
            ServerRepr::Full(t) => (t.addr, t.name, t.backup, t.priority),
        };
        check_host_port(&addr).map_err(de::Error::custom)?;
        let name = name.unwrap_or_else(|| addr.clone());
        Ok(ServerSpec {
            addr,
            name,
            backup,
            priority,
        })
    }
}

/// Checks the `host:port` form (IPv6 literals in brackets); resolution happens at connect time.
pub fn check_host_port(s: &str) -> Result<(), String> {
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("{s:?} is not host:port"))?;
    if host.is_empty() {
        return Err(format!("{s:?} has no host"));
    }
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return Err(format!("{s:?}: write IPv6 addresses as [addr]:port"));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err(format!("{s:?} has an invalid port {port:?}")),
    }
}

/// Load-balancing algorithm of a `[[tcp]]` listener (HAProxy names).
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Balance {
    #[default]
    Roundrobin,
    Leastconn,
    First,
    Source,
}

/// Health check of a `[[tcp]]` group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Check {
    #[default]
    Tcp,
    None,
    Http(String),
    Mysql,
    Galera,
    RedisMaster,
}

impl FromStr for Check {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "tcp" => Check::Tcp,
            "none" => Check::None,
            "mysql" => Check::Mysql,
            "galera" => Check::Galera,
            "redis_master" => Check::RedisMaster,
            _ => match s.strip_prefix("http:") {
                Some(path) if path.starts_with('/') => Check::Http(path.to_string()),
                _ => {
                    return Err(format!(
                        "unknown check {s:?}: expected tcp, none, mysql, galera, redis_master or http:/path"
                    ));
                }
            },
        })
    }
}

impl<'de> Deserialize<'de> for Check {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(de::Error::custom)
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Check::Tcp => f.write_str("tcp"),
            Check::None => f.write_str("none"),
            Check::Http(p) => write!(f, "http:{p}"),
            Check::Mysql => f.write_str("mysql"),
            Check::Galera => f.write_str("galera"),
            Check::RedisMaster => f.write_str("redis_master"),
        }
    }
}

/// PROXY protocol header sent to backends: `false`, `true` (= v2), `"v1"` or `"v2"`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ProxyVersion {
    #[default]
    Off,
    V1,
    V2,
}

impl<'de> Deserialize<'de> for ProxyVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Bool(bool),
            Str(String),
        }
        match Repr::deserialize(d)? {
            Repr::Bool(false) => Ok(ProxyVersion::Off),
            Repr::Bool(true) => Ok(ProxyVersion::V2),
            Repr::Str(s) if s == "v1" => Ok(ProxyVersion::V1),
            Repr::Str(s) if s == "v2" => Ok(ProxyVersion::V2),
            Repr::Str(s) => Err(de::Error::custom(format!(
                "send_proxy is false, true, \"v1\" or \"v2\", not {s:?}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_forms() {
        assert!(check_host_port("10.0.0.1:3306").is_ok());
        assert!(check_host_port("db1.example:3306").is_ok());
        assert!(check_host_port("[::1]:3306").is_ok());
        assert!(check_host_port("::1:3306").is_err());
        assert!(check_host_port("10.0.0.1").is_err());
        assert!(check_host_port("10.0.0.1:0").is_err());
        assert!(check_host_port(":80").is_err());
        assert!(check_host_port("h:99999").is_err());
    }

    #[test]
    fn check_forms() {
        assert_eq!(
            "http:/health".parse::<Check>(),
            Ok(Check::Http("/health".into()))
        );
        assert!("http:health".parse::<Check>().is_err());
        assert!("ping".parse::<Check>().is_err());
        assert_eq!("redis_master".parse::<Check>(), Ok(Check::RedisMaster));
    }
}
