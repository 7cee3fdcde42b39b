//! `agency.toml`: what an adapter needs to know, with environment overrides.
//!
//! ```toml
//! organ_id = "000.00.00.G22"
//! key_file = "/etc/docaxis/vpcp.key"      # PKCS#8 PEM, mode 0600
//! key_id = "G22-2026"                      # the key's id in the directory
//! directory = "/etc/docaxis/directory.json"
//! root_pub = "/etc/docaxis/root.pub"
//! axis = "amqp://vpcp:secret@axis.example:5672"   # or file:///var/lib/docaxis/axis
//! data_dir = "/var/lib/docaxis/vpcp"       # outbox/, sent/, inbox/, ...
//! http = "127.0.0.1:8410"                  # loopback only
//! concurrency = 128
//! scan_interval_ms = 1000
//! ```
//!
//! Every key can be overridden by `DOCAXIS_<KEY>` in upper case (e.g.
//! `DOCAXIS_AXIS`, `DOCAXIS_DATA_DIR`), which is how systemd units and
//! containers inject secrets without rewriting the file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use docaxis_edxml::OrganId;
use serde::Deserialize;

/// The adapter's configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// This agency's id.
    pub organ_id: OrganId,
    /// The agency's private signing key.
    pub key_file: PathBuf,
    /// The key's id in the directory.
    pub key_id: String,
    /// The signed agency directory.
    pub directory: PathBuf,
    /// The axis operator's root public key.
    pub root_pub: PathBuf,
    /// The axis: `amqp(s)://...` or `file://...`; the embedded default if absent.
    #[serde(default)]
    pub axis: Option<String>,
    /// Where the folders live.
    pub data_dir: PathBuf,
    /// Loopback address of the HTTP endpoint (POST documents, /health,
    /// /metrics); none if absent.
    #[serde(default)]
    pub http: Option<SocketAddr>,
    /// Deliveries and outbox files handled at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// How often the outbox folders are scanned, in milliseconds, at the
    /// latest: a file renamed into them wakes the adapter at once (see
    /// [`crate::folder_watch`]); the scan is the fallback.
    #[serde(default = "default_scan")]
    pub scan_interval_ms: u64,
}

/// 128: every durable step is a group commit, so more work in flight means
/// fewer fsyncs per document (measured with adapter-bench, 5,000 documents:
/// 32 -> 128 took the sender from 1.01 to 0.71-0.80 ms of CPU per document
/// and the receiver from 0.62 to 0.47-0.51 ms; 256 gained little more and
/// held ~15 MB more). It stays within the axis's prefetch (256).
fn default_concurrency() -> usize {
    128
}

fn default_scan() -> u64 {
    1000
}

/// A configuration that cannot be used, and why.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read the configuration {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The TOML is wrong.
    #[error("configuration {path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the key.
        message: String,
    },
}

/// Keys that may be overridden from the environment.
const OVERRIDABLE: &[&str] = &[
    "organ_id",
    "key_file",
    "key_id",
    "directory",
    "root_pub",
    "axis",
    "data_dir",
    "http",
    "concurrency",
    "scan_interval_ms",
];

impl Config {
    /// Reads `path`, then applies `DOCAXIS_*` overrides from `env`.
    pub fn load(path: &Path, env: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::from_toml(&text, path, env)
    }

    /// Parses TOML text (for tests and for `load`).
    pub fn from_toml(
        text: &str,
        path: &Path,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_owned(),
            message,
        };
        let mut table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| invalid(e.to_string()))?;
        for key in OVERRIDABLE {
            let var = format!("DOCAXIS_{}", key.to_ascii_uppercase());
            if let Some(value) = env(&var) {
                let v = match *key {
                    "concurrency" | "scan_interval_ms" => {
                        toml::Value::Integer(value.parse().map_err(|_| {
                            invalid(format!("{var}={value:?} is not a whole number"))
                        })?)
                    }
                    _ => toml::Value::String(value),
                };
                table.insert((*key).to_owned(), v);
            }
        }
        let config: Config = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| invalid(e.to_string()))?;
        if config.concurrency == 0 {
            return Err(invalid("concurrency must be at least 1".into()));
        }
        if let Some(addr) = config.http {
            if !addr.ip().is_loopback() {
                return Err(invalid(format!(
                    "http = {addr}: the adapter's endpoint accepts documents to sign, so it listens on loopback only (127.0.0.1 or ::1)"
                )));
            }
        }
        Ok(config)
    }

    /// The folder `name` under the data directory.
    pub fn folder(&self, name: &str) -> PathBuf {
        self.data_dir.join(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOML: &str = r#"
organ_id = "000.00.00.G22"
key_file = "k.key"
key_id = "G22-2026"
directory = "directory.json"
root_pub = "root.pub"
data_dir = "/tmp/x"
http = "127.0.0.1:8410"
"#;

    #[test]
    fn environment_overrides_the_file() {
        let env = |k: &str| match k {
            "DOCAXIS_AXIS" => Some("amqp://127.0.0.1".to_owned()),
            "DOCAXIS_CONCURRENCY" => Some("8".to_owned()),
            _ => None,
        };
        let c = Config::from_toml(TOML, Path::new("a.toml"), env).unwrap();
        assert_eq!(c.axis.as_deref(), Some("amqp://127.0.0.1"));
        assert_eq!(c.concurrency, 8);
        assert_eq!(c.organ_id.as_str(), "000.00.00.G22");
        assert_eq!(c.scan_interval_ms, 1000);
    }

    #[test]
    fn errors_name_the_key() {
        let bad = TOML.replace("000.00.00.G22", "a/b");
        let e = Config::from_toml(&bad, Path::new("a.toml"), |_| None).unwrap_err();
        assert!(e.to_string().contains("organ_id"), "{e}");
        let public = TOML.replace("127.0.0.1:8410", "0.0.0.0:8410");
        let e = Config::from_toml(&public, Path::new("a.toml"), |_| None).unwrap_err();
        assert!(e.to_string().contains("loopback"), "{e}");
        let e = Config::from_toml("organ_id = 1", Path::new("a.toml"), |_| None).unwrap_err();
        assert!(e.to_string().contains("a.toml"), "{e}");
    }
}
