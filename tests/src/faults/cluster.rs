//! deploy/cluster/cluster.sh's three-node RabbitMQ cluster, with a name,
//! a directory and ports of the test's own, so that it never meets the
//! shared broker on 5672 or another test's cluster.

use std::path::PathBuf;
use std::process::Command;

use super::node::rabbitmq_bin;

/// A running cluster; taken down (`cluster.sh down`) on drop.
pub struct Cluster {
    name: String,
    dir: PathBuf,
    base_port: u16,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/cluster/cluster.sh")
}

impl Cluster {
    /// `cluster.sh up` with AMQP on `base_port + 1..=3`; `None` (after
    /// saying why) without RabbitMQ.
    pub fn up(base_port: u16) -> Option<Cluster> {
        if rabbitmq_bin().is_none() {
            println!("SKIPPED: no RabbitMQ installation");
            return None;
        }
        let name = format!("docaxis-faults{}", std::process::id() % 10_000);
        // Not in a private temporary directory: the nodes run as the
        // rabbitmq user, who must reach it (the script chowns it).
        let dir = std::env::temp_dir().join(format!("{name}-cluster"));
        let cluster = Cluster {
            name,
            dir,
            base_port,
        };
        // Taken down by Drop even if `up` fails half-way.
        let out = cluster.script(&["up"]);
        println!("{}", out.trim());
        // The tests' adapters publish for several agencies as guest.
        cluster.ctl(
            1,
            &["set_user_tags", "guest", "administrator", "impersonator"],
        );
        Some(cluster)
    }

    fn script(&self, args: &[&str]) -> String {
        let out = Command::new("bash")
            .arg(script())
            .args(args)
            .env("DOCAXIS_CLUSTER_NAME", &self.name)
            .env("DOCAXIS_CLUSTER_DIR", &self.dir)
            .env("DOCAXIS_CLUSTER_BASE_PORT", self.base_port.to_string())
            .output()
            .expect("bash cluster.sh");
        assert!(
            out.status.success(),
            "cluster.sh {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Node `n`'s name.
    pub fn node(&self, n: usize) -> String {
        format!("{}-{n}@localhost", self.name)
    }

    /// `amqp://` URL of node `n`'s default vhost.
    pub fn url(&self, n: usize) -> String {
        format!(
            "amqp://guest:guest@127.0.0.1:{}/%2f",
            self.base_port as usize + n
        )
    }

    /// `rabbitmqctl -n <node n> args`, its output.
    pub fn ctl(&self, n: usize, args: &[&str]) -> String {
        let out = Command::new("rabbitmqctl")
            .args(["-q", "-n", &self.node(n)])
            .args(args)
            .output()
            .expect("rabbitmqctl");
        assert!(
            out.status.success(),
            "rabbitmqctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Queue name → leader node, asked of node `via`.
    pub fn leaders(&self, via: usize) -> Vec<(String, String)> {
        let out = self.ctl(
            via,
            &["list_queues", "name", "leader", "--formatter", "json"],
        );
        let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
        v.as_array()
            .map(|a| {
                a.iter()
                    .map(|q| {
                        (
                            q["name"].as_str().unwrap_or_default().to_owned(),
                            q["leader"].as_str().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `cluster.sh stop n`: node `n` goes away.
    pub fn stop(&self, n: usize) {
        self.script(&["stop", &n.to_string()]);
    }

    /// `cluster.sh start n`: node `n` comes back (and rejoins).
    pub fn start(&self, n: usize) {
        self.script(&["start", &n.to_string()]);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .arg("down")
            .env("DOCAXIS_CLUSTER_NAME", &self.name)
            .env("DOCAXIS_CLUSTER_DIR", &self.dir)
            .env("DOCAXIS_CLUSTER_BASE_PORT", self.base_port.to_string())
            .output();
    }
}
