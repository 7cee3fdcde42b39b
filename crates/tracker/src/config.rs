//! `tracker.toml`, with environment overrides.
//!
//! ```toml
//! axis = "file:///var/lib/docaxis/axis"   # or amqp://tracker:…@broker/…; absent: the default embedded axis
//! db = "/var/lib/docaxis/tracker.db"
//! listen = "127.0.0.1:8470"
//! durable = true                          # fsync each commit
//!
//! [ingest]
//! batch_size = 1000
//! batch_wait_ms = 50
//!
//! [overdue]                               # no 01 (arrived) within…
//! normal = "4h"
//! urgent = "1h"                           # priority 1, khẩn
//! very_urgent = "30m"                     # 2, thượng khẩn
//! express = "15m"                         # 3, hỏa tốc
//! express_timed = "15m"                   # 4, hỏa tốc hẹn giờ
//! ```
//!
//! Every key can be overridden by an environment variable:
//! `DOCAXIS_TRACKER_AXIS`, `DOCAXIS_TRACKER_DB`, `DOCAXIS_TRACKER_LISTEN`,
//! `DOCAXIS_TRACKER_DURABLE`, `DOCAXIS_TRACKER_BATCH_SIZE`,
//! `DOCAXIS_TRACKER_BATCH_WAIT_MS`, `DOCAXIS_TRACKER_OVERDUE_NORMAL`,
//! `…_OVERDUE_URGENT`, `…_OVERDUE_VERY_URGENT`, `…_OVERDUE_EXPRESS`,
//! `…_OVERDUE_EXPRESS_TIMED`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::state::Thresholds;

/// Default listen address: loopback only; put a reverse proxy with
/// authentication in front to expose it.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8470";

/// Errors in the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("{path}: {message}")]
    Toml {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// A value is invalid.
    #[error("{key}: {message}")]
    Value {
        /// The key (or variable).
        key: String,
        /// Why.
        message: String,
    },
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    axis: Option<String>,
    db: Option<PathBuf>,
    listen: Option<String>,
    durable: Option<bool>,
    #[serde(default)]
    ingest: FileIngest,
    #[serde(default)]
    overdue: FileOverdue,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileIngest {
    batch_size: Option<usize>,
    batch_wait_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileOverdue {
    normal: Option<String>,
    urgent: Option<String>,
    very_urgent: Option<String>,
    express: Option<String>,
    express_timed: Option<String>,
}

/// The tracker's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Config {
    /// Axis URL (`file://…`, `amqp://…`); `None`: the default embedded axis.
    pub axis: Option<String>,
    /// SQLite database.
    pub db: PathBuf,
    /// HTTP listen address.
    pub listen: SocketAddr,
    /// fsync every commit.
    pub durable: bool,
    /// Most deliveries per transaction.
    pub batch_size: usize,
    /// Longest wait to fill a batch, in milliseconds.
    pub batch_wait_ms: u64,
    /// Overdue thresholds by priority.
    pub thresholds: Thresholds,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            axis: None,
            db: PathBuf::from("tracker.db"),
            listen: DEFAULT_LISTEN.parse().expect("valid default"),
            durable: true,
            batch_size: 1000,
            batch_wait_ms: 50,
            thresholds: Thresholds::default(),
        }
    }
}

/// Parse a duration: `90`, `90s`, `15m`, `4h`, `2d`.
pub fn parse_duration(s: &str) -> Option<i64> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&s[..i], s[i..].trim()),
        None => (s, "s"),
    };
    let n: i64 = num.parse().ok()?;
    let mult = match unit {
        "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return None,
    };
    n.checked_mul(mult).filter(|&v| v > 0)
}

impl Config {
    /// Read `path` (if given) and apply the environment overrides.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let file = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.to_path_buf(),
                    source,
                })?;
                toml::from_str::<FileConfig>(&text).map_err(|e| ConfigError::Toml {
                    path: p.to_path_buf(),
                    message: e.to_string(),
                })?
            }
            None => FileConfig::default(),
        };
        Config::from_parts(file, |k| std::env::var(k).ok())
    }

    /// Parse TOML text with the given environment (for tests).
    pub fn from_toml(
        text: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let file = toml::from_str::<FileConfig>(text).map_err(|e| ConfigError::Toml {
            path: PathBuf::from("<toml>"),
            message: e.to_string(),
        })?;
        Config::from_parts(file, env)
    }

    fn from_parts(
        file: FileConfig,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let d = Config::default();
        let pick = |var: &str, v: Option<String>| env(var).or(v);
        let bad = |key: &str, message: String| ConfigError::Value {
            key: key.into(),
            message,
        };
        let listen_s =
            pick("DOCAXIS_TRACKER_LISTEN", file.listen).unwrap_or_else(|| DEFAULT_LISTEN.into());
        let listen = listen_s.parse().map_err(|_| {
            bad(
                "listen",
                format!("{listen_s:?} is not an address like 127.0.0.1:8470"),
            )
        })?;
        let durable = match env("DOCAXIS_TRACKER_DURABLE") {
            Some(v) => match v.as_str() {
                "1" | "true" | "yes" => true,
                "0" | "false" | "no" => false,
                _ => {
                    return Err(bad(
                        "DOCAXIS_TRACKER_DURABLE",
                        format!("{v:?} is not true or false"),
                    ))
                }
            },
            None => file.durable.unwrap_or(d.durable),
        };
        let num = |var: &str, v: Option<u64>, default: u64| -> Result<u64, ConfigError> {
            match env(var) {
                Some(s) => s
                    .trim()
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| bad(var, format!("{s:?} is not a positive number"))),
                None => Ok(v.unwrap_or(default)),
            }
        };
        let batch_size = num(
            "DOCAXIS_TRACKER_BATCH_SIZE",
            file.ingest.batch_size.map(|v| v as u64),
            d.batch_size as u64,
        )? as usize;
        let batch_wait_ms = num(
            "DOCAXIS_TRACKER_BATCH_WAIT_MS",
            file.ingest.batch_wait_ms,
            d.batch_wait_ms,
        )?;
        if batch_size == 0 || batch_size > 100_000 {
            return Err(bad("ingest.batch_size", "must be 1..=100000".into()));
        }
        let o = file.overdue;
        let mut th = d.thresholds;
        for (i, (key, v)) in [
            ("normal", o.normal),
            ("urgent", o.urgent),
            ("very_urgent", o.very_urgent),
            ("express", o.express),
            ("express_timed", o.express_timed),
        ]
        .into_iter()
        .enumerate()
        {
            let var = format!("DOCAXIS_TRACKER_OVERDUE_{}", key.to_ascii_uppercase());
            if let Some(s) = pick(&var, v) {
                th.0[i] = parse_duration(&s).ok_or_else(|| {
                    bad(
                        &format!("overdue.{key}"),
                        format!("{s:?} is not a duration like 30m, 4h, 1d"),
                    )
                })?;
            }
        }
        Ok(Config {
            axis: pick("DOCAXIS_TRACKER_AXIS", file.axis).filter(|s| !s.is_empty()),
            db: pick(
                "DOCAXIS_TRACKER_DB",
                file.db.map(|p| p.display().to_string()),
            )
            .map(PathBuf::from)
            .unwrap_or(d.db),
            listen,
            durable,
            batch_size,
            batch_wait_ms,
            thresholds: th,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_and_env() {
        let c = Config::from_toml(
            "axis = \"file:///x\"\ndb = \"/d/t.db\"\n[overdue]\nurgent = \"20m\"\n",
            |k| (k == "DOCAXIS_TRACKER_LISTEN").then(|| "0.0.0.0:9000".to_string()),
        )
        .unwrap();
        assert_eq!(c.axis.as_deref(), Some("file:///x"));
        assert_eq!(c.db, PathBuf::from("/d/t.db"));
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.thresholds.0, [14400, 1200, 1800, 900, 900]);
        assert!(Config::from_toml("nope = 1", |_| None).is_err());
        assert!(Config::from_toml("[overdue]\nnormal = \"4x\"", |_| None).is_err());
        assert_eq!(parse_duration("2d"), Some(172800));
        assert_eq!(parse_duration("45"), Some(45));
    }
}
