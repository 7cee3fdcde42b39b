//! A RabbitMQ node of the test's own, to stop, start and kill.
//!
//! The shared broker on 5672 is used by other suites and benchmarks at the
//! same time and must never be disturbed, so the broker faults happen on
//! a node started here: its own node name, AMQP and distribution ports,
//! Erlang cookie (`HOME`), configuration, data and log directories in a
//! temporary directory, and no plugins. It runs the real scripts in
//! `/usr/lib/rabbitmq/bin` (or `DOCAXIS_RABBITMQ_BIN`), not the
//! `/usr/sbin` wrappers, which switch to the `rabbitmq` user.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Where the RabbitMQ scripts are, if RabbitMQ is installed.
pub fn rabbitmq_bin() -> Option<PathBuf> {
    let dir = std::env::var_os("DOCAXIS_RABBITMQ_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/rabbitmq/bin"));
    dir.join("rabbitmq-server").exists().then_some(dir)
}

/// A free port on loopback (free now; the node binds it a moment later).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// The node; stopped (and its files removed) on drop.
pub struct Node {
    bin: PathBuf,
    dir: tempfile::TempDir,
    name: String,
    port: u16,
    dist_port: u16,
    server: Option<Child>,
}

impl Node {
    /// Starts a node and waits until it serves; `None` (after saying why)
    /// when RabbitMQ is not installed.
    pub fn start(tag: &str) -> Option<Node> {
        let Some(bin) = rabbitmq_bin() else {
            println!("SKIPPED: no RabbitMQ installation (set DOCAXIS_RABBITMQ_BIN)");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for sub in ["home", "mnesia", "log"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        let port = free_port();
        std::fs::write(d.join("enabled_plugins"), "[].\n").unwrap();
        std::fs::write(d.join("rabbitmq-env.conf"), "").unwrap();
        std::fs::write(
            d.join("rabbitmq.conf"),
            format!("listeners.tcp.default = 127.0.0.1:{port}\n"),
        )
        .unwrap();
        let mut node = Node {
            bin,
            name: format!("docaxis-{tag}-{}@localhost", std::process::id()),
            port,
            dist_port: free_port(),
            server: None,
            dir,
        };
        node.boot();
        // The adapters of the tests connect as guest and publish for
        // several agencies (user_id = sender): guest must be allowed to.
        node.ctl_ok(&["set_user_tags", "guest", "administrator", "impersonator"]);
        Some(node)
    }

    /// `amqp://` URL of the node's default vhost.
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    /// The node's name (`name@localhost`).
    pub fn name(&self) -> &str {
        &self.name
    }

    fn env(&self, cmd: &mut Command) {
        let d = self.dir.path();
        cmd.env("HOME", d.join("home")) // the Erlang cookie lives here
            .env("RABBITMQ_NODENAME", &self.name)
            .env("RABBITMQ_CONF_ENV_FILE", d.join("rabbitmq-env.conf"))
            .env("RABBITMQ_CONFIG_FILE", d.join("rabbitmq.conf"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", d.join("enabled_plugins"))
            .env("RABBITMQ_MNESIA_BASE", d.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", d.join("log"))
            .env("RABBITMQ_PID_FILE", d.join("rabbitmq.pid"))
            .env("ERL_EPMD_ADDRESS", "127.0.0.1");
    }

    /// `rabbitmqctl -n <node> args`.
    pub fn ctl(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(self.bin.join("rabbitmqctl"));
        self.env(&mut cmd);
        cmd.args(["-q", "-n", &self.name])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("rabbitmqctl")
    }

    fn ctl_ok(&self, args: &[&str]) {
        let out = self.ctl(args);
        assert!(
            out.status.success(),
            "rabbitmqctl {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts the node's Erlang VM (first time, or after [`Node::kill9`])
    /// and waits (up to 300 s) until the RabbitMQ application runs. Retries a start that
    /// fails at once: after a kill, epmd may still hold the node's name
    /// for a moment.
    pub fn boot(&mut self) {
        let t0 = Instant::now();
        'attempt: loop {
            let d = self.dir.path();
            let mut cmd = Command::new(self.bin.join("rabbitmq-server"));
            self.env(&mut cmd);
            cmd.env("RABBITMQ_NODE_PORT", self.port.to_string())
                .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
                .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
                .env("ERL_FLAGS", "-kernel inet_dist_use_interface {127,0,0,1}")
                .stdin(Stdio::null())
                .stdout(log_file(&d.join("server.out")))
                .stderr(log_file(&d.join("server.err")));
            self.server = Some(cmd.spawn().expect("start rabbitmq-server"));
            loop {
                // Generous: a node recovering a large quorum-queue log on
                // a busy two-core machine was seen to need over 120 s.
                assert!(
                    t0.elapsed() < Duration::from_secs(300),
                    "node {} not up after 300 s; its output: {}",
                    self.name,
                    std::fs::read_to_string(d.join("server.out")).unwrap_or_default()
                );
                if let Some(Ok(Some(_))) = self.server.as_mut().map(Child::try_wait) {
                    std::thread::sleep(Duration::from_secs(1));
                    continue 'attempt;
                }
                if self.serving() {
                    println!(
                        "node {} up on 127.0.0.1:{} after {:.1} s",
                        self.name,
                        self.port,
                        t0.elapsed().as_secs_f64()
                    );
                    return;
                }
                std::thread::sleep(Duration::from_millis(300));
            }
        }
    }

    /// The RabbitMQ application runs and takes connections.
    fn serving(&self) -> bool {
        std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            && self
                .ctl(&["await_startup", "--timeout", "5"])
                .status
                .success()
    }

    /// `rabbitmqctl stop_app`: the broker stops (connections closed,
    /// listeners down), the Erlang VM stays.
    pub fn stop_app(&self) {
        self.ctl_ok(&["stop_app"]);
    }

    /// `rabbitmqctl start_app`, then waits until it serves again.
    pub fn start_app(&self) {
        self.ctl_ok(&["start_app"]);
        let t0 = Instant::now();
        while !self.serving() {
            assert!(
                t0.elapsed() < Duration::from_secs(300),
                "start_app: not serving after 300 s"
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// SIGKILL of the node's Erlang VM: the broker dies outright, with
    /// whatever it had not written.
    pub fn kill9(&mut self) {
        if let Some(pid) = self.vm_pid() {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
        }
        if let Some(mut s) = self.server.take() {
            let _ = s.kill();
            let _ = s.wait();
        }
    }

    fn vm_pid(&self) -> Option<String> {
        let pid = std::fs::read_to_string(self.dir.path().join("rabbitmq.pid")).ok()?;
        let pid = pid.trim().to_owned();
        (!pid.is_empty() && Path::new(&format!("/proc/{pid}")).exists()).then_some(pid)
    }
}

fn log_file(path: &Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
}

impl Drop for Node {
    fn drop(&mut self) {
        // A clean stop through the node's control channel, bounded...
        let mut cmd = Command::new(self.bin.join("rabbitmqctl"));
        self.env(&mut cmd);
        cmd.args(["-n", &self.name, "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Ok(mut ctl) = cmd.spawn() {
            let t0 = Instant::now();
            while matches!(ctl.try_wait(), Ok(None)) && t0.elapsed() < Duration::from_secs(30) {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = ctl.kill();
            let _ = ctl.wait();
        }
        // ...then certainly: the VM and the start script, both ours.
        self.kill9();
    }
}
