//! The demo on RabbitMQ (`--amqp URL`): a virtual host of its own, and one
//! broker user per agency, as `docaxis broker provision` gives a real axis.
//!
//! Each adapter connects as its own agency: the broker, not docaxis,
//! refuses a message whose `user_id` is not the connection's user, and an
//! agency can read only its own queues. The user of `URL` acts as the axis
//! operator: it declares the topology (`docaxis broker setup`).
//!
//! Creating a vhost and users needs `rabbitmqctl` on the broker's host (it
//! talks to the node with the Erlang cookie); `RABBITMQ_NODENAME` picks the
//! node (e.g. a node of deploy/cluster).

use std::process::Command;

use anyhow::{bail, Context};
use docaxis_axis::provision::{self, Credential};

use super::world::AxisFor;

/// The demo's own corner of a broker; removed by [`DemoBroker::remove`].
#[derive(Debug)]
pub struct DemoBroker {
    scheme: String,
    host: String,
    operator: String,
    query: String,
    /// The demo's virtual host.
    pub vhost: String,
    agencies: Vec<Credential>,
    tracker: Credential,
}

/// `scheme://userinfo@host:port/vhost?query` → its parts.
struct Parts {
    scheme: String,
    userinfo: String,
    host: String,
    query: String,
}

fn split_url(url: &str) -> anyhow::Result<Parts> {
    let (scheme, rest) = url
        .split_once("://")
        .filter(|(s, _)| *s == "amqp" || *s == "amqps")
        .with_context(|| format!("--amqp {url:?}: expected amqp://USER:PASSWORD@HOST:PORT"))?;
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let authority = rest.split('/').next().unwrap_or("");
    let (userinfo, host) = authority
        .rsplit_once('@')
        .unwrap_or(("guest:guest", authority));
    if host.is_empty() {
        bail!("--amqp {url:?}: no host");
    }
    Ok(Parts {
        scheme: scheme.into(),
        userinfo: userinfo.into(),
        host: host.into(),
        query: query.into(),
    })
}

impl DemoBroker {
    /// Creates the vhost `<prefix>-<random>` (`docaxis-demo-…` for the
    /// demo, `docaxis-bench-…` for the bench), the agencies' users and the
    /// tracker's, with `rabbitmqctl import_definitions`.
    pub fn create(url: &str, prefix: &str, agencies: &[&str]) -> anyhow::Result<DemoBroker> {
        let p = split_url(url)?;
        let operator_user = p.userinfo.split(':').next().unwrap_or("guest").to_owned();
        let tag = &provision::generate_password()?[..8];
        let vhost = format!("{prefix}-{tag}");
        let agencies = agencies
            .iter()
            .map(|a| {
                Ok(Credential {
                    user: (*a).to_owned(),
                    password: provision::generate_password()?,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let tracker = Credential {
            user: format!("{vhost}-tracker"),
            password: provision::generate_password()?,
        };
        let mut defs = provision::definitions("docaxis", &vhost, &agencies, Some(&tracker))?;
        // The URL's user is the demo's operator: it declares the topology.
        provision::grant_operator(&mut defs, &vhost, &operator_user, None)?;
        provision::import_with_rabbitmqctl(&defs).with_context(|| {
            "the RabbitMQ demo creates a vhost and one user per agency with rabbitmqctl, \
             so it runs on the broker's host (as root or the rabbitmq user); \
             set RABBITMQ_NODENAME to choose the node"
        })?;
        Ok(DemoBroker {
            scheme: p.scheme,
            host: p.host,
            operator: p.userinfo,
            query: p.query,
            vhost,
            agencies,
            tracker,
        })
    }

    fn url(&self, userinfo: &str) -> String {
        let q = if self.query.is_empty() {
            String::new()
        } else {
            format!("?{}", self.query)
        };
        format!(
            "{}://{userinfo}@{}/{}{q}",
            self.scheme, self.host, self.vhost
        )
    }

    /// The operator's URL (declares the topology).
    pub fn operator_url(&self) -> String {
        self.url(&self.operator)
    }

    /// The tracker's URL (reads the tap only).
    pub fn tracker_url(&self) -> String {
        self.url(&format!("{}:{}", self.tracker.user, self.tracker.password))
    }

    /// Deletes the vhost and the users.
    pub fn remove(&self) -> anyhow::Result<()> {
        let out = Command::new("rabbitmqctl")
            .args(["delete_vhost", &self.vhost])
            .output()
            .context("running rabbitmqctl delete_vhost")?;
        if !out.status.success() {
            bail!(
                "rabbitmqctl delete_vhost {}: {}",
                self.vhost,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let users: Vec<&str> = self
            .agencies
            .iter()
            .chain(std::iter::once(&self.tracker))
            .map(|c| c.user.as_str())
            .collect();
        provision::delete_users(&users)?;
        Ok(())
    }
}

impl AxisFor for DemoBroker {
    fn url_for(&self, agency: &str) -> String {
        let c = self
            .agencies
            .iter()
            .find(|c| c.user == agency)
            .expect("every demo agency has a broker user");
        self.url(&format!("{}:{}", c.user, c.password))
    }
}

/// The embedded axis in the demo's directory.
pub struct Embedded(pub String);

impl AxisFor for Embedded {
    fn url_for(&self, _agency: &str) -> String {
        self.0.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_host_scheme_and_query() {
        let p = split_url("amqps://op:secret@broker.example:5671/%2f?heartbeat=10").unwrap();
        assert_eq!(
            (&*p.scheme, &*p.userinfo, &*p.host, &*p.query),
            ("amqps", "op:secret", "broker.example:5671", "heartbeat=10")
        );
        let p = split_url("amqp://127.0.0.1:5672").unwrap();
        assert_eq!((&*p.userinfo, &*p.host), ("guest:guest", "127.0.0.1:5672"));
        assert!(split_url("file:///tmp/axis").is_err());
        assert!(split_url("amqp://").is_err());
    }
}
