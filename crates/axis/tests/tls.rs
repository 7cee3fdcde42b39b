//! `amqps://` with mutual TLS, against a RabbitMQ node of the test's own.
//!
//! The shared broker on 5672 has no TLS listener and must not be touched,
//! so this test generates a CA, a server certificate and client
//! certificates with `openssl` in a temporary directory, starts a separate
//! node (own node name, ports, data and log directories, Erlang cookie and
//! configuration: TLS listener only, `verify_peer`,
//! `fail_if_no_peer_cert`, no plugins), and checks that:
//!
//! * docaxis connects over `amqps://` with the CA and a client certificate,
//!   publishes (confirmed) and consumes (acked) a document;
//! * a client without a certificate is refused;
//! * a client whose certificate comes from another CA is refused;
//! * a client that does not trust the node's CA refuses the node.
//!
//! Then it stops the node (also when an assertion fails). It needs
//! `openssl` and a RabbitMQ installation (`/usr/lib/rabbitmq/bin`, or the
//! directory in `DOCAXIS_RABBITMQ_BIN`); without them it says so and
//! passes without checking anything. About 15 s on a quiet machine (80 s
//! under a load of 50 on 2 cores), mostly the node's boot.
//!
//! ```text
//! cargo test -p docaxis-axis --test tls -- --nocapture
//! ```

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use docaxis_axis::{Axis, AxisError, Envelope, RabbitAxis, RabbitOptions, TlsOptions};

/// Where the RabbitMQ scripts are: the real scripts, not the `/usr/sbin`
/// wrappers, which switch to the `rabbitmq` user when run as root.
fn rabbitmq_bin() -> Option<PathBuf> {
    let dir = std::env::var_os("DOCAXIS_RABBITMQ_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/rabbitmq/bin"));
    dir.join("rabbitmq-server").exists().then_some(dir)
}

fn have_openssl() -> bool {
    Command::new("openssl")
        .arg("version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A key pair and certificate signed by `ca` (self-signed when `ca` is
/// `None`), P-256, written as `<name>.pem` / `<name>.key` (PKCS#8) in `dir`.
fn issue(dir: &Path, name: &str, subject: &str, ca: Option<&str>, extensions: &[&str]) {
    let mut cmd = Command::new("openssl");
    cmd.current_dir(dir).args([
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "2",
        "-subj",
    ]);
    cmd.arg(subject)
        .arg("-keyout")
        .arg(format!("{name}.key"))
        .arg("-out")
        .arg(format!("{name}.pem"));
    if let Some(ca) = ca {
        cmd.arg("-CA")
            .arg(format!("{ca}.pem"))
            .arg("-CAkey")
            .arg(format!("{ca}.key"));
    }
    for e in extensions {
        cmd.arg("-addext").arg(e);
    }
    run(&mut cmd);
}

/// The test PKI: `ca` signs `server` and `client`; `rogue` is another CA
/// and signs `rogue-client`.
fn make_pki(dir: &Path) {
    let ca_ext = [
        "basicConstraints=critical,CA:TRUE",
        "keyUsage=critical,keyCertSign,cRLSign",
    ];
    issue(dir, "ca", "/CN=docaxis test CA", None, &ca_ext);
    issue(dir, "rogue", "/CN=another CA", None, &ca_ext);
    issue(
        dir,
        "server",
        "/CN=localhost",
        Some("ca"),
        &[
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "basicConstraints=critical,CA:FALSE",
            "keyUsage=critical,digitalSignature",
            "extendedKeyUsage=serverAuth",
        ],
    );
    let client_ext = [
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature",
        "extendedKeyUsage=clientAuth",
    ];
    issue(dir, "client", "/CN=000.00.00.G22", Some("ca"), &client_ext);
    issue(
        dir,
        "rogue-client",
        "/CN=000.00.00.G22",
        Some("rogue"),
        &client_ext,
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// A RabbitMQ node of this test's own; stopped on drop.
struct Node {
    bin: PathBuf,
    dir: PathBuf,
    name: String,
    tls_port: u16,
    server: Child,
}

/// The environment that makes a node (and `rabbitmqctl`) this test's node:
/// nothing is read from or written to the system node's files.
fn node_env(cmd: &mut Command, d: &Path, name: &str) {
    cmd.env("HOME", d.join("home")) // the Erlang cookie lives here
        .env("RABBITMQ_NODENAME", name)
        .env("RABBITMQ_CONF_ENV_FILE", d.join("rabbitmq-env.conf"))
        .env("RABBITMQ_CONFIG_FILE", d.join("rabbitmq.conf"))
        .env("RABBITMQ_ENABLED_PLUGINS_FILE", d.join("enabled_plugins"))
        .env("RABBITMQ_MNESIA_BASE", d.join("mnesia"))
        .env("RABBITMQ_LOG_BASE", d.join("log"))
        .env("RABBITMQ_PID_FILE", d.join("rabbitmq.pid"))
        .env("ERL_EPMD_ADDRESS", "127.0.0.1");
}

impl Node {
    fn start(bin: PathBuf, dir: &Path) -> Node {
        let tls_port = free_port();
        let (node_port, dist_port) = (free_port(), free_port());
        for sub in ["home", "mnesia", "log"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        // No plugins (management off), no system env file.
        std::fs::write(dir.join("enabled_plugins"), "[].\n").unwrap();
        std::fs::write(dir.join("rabbitmq-env.conf"), "").unwrap();
        let p = |f: &str| dir.join(f).display().to_string();
        std::fs::write(
            dir.join("rabbitmq.conf"),
            format!(
                "listeners.tcp = none\n\
                 listeners.ssl.default = 127.0.0.1:{tls_port}\n\
                 ssl_options.cacertfile = {}\n\
                 ssl_options.certfile = {}\n\
                 ssl_options.keyfile = {}\n\
                 ssl_options.verify = verify_peer\n\
                 ssl_options.fail_if_no_peer_cert = true\n",
                p("ca.pem"),
                p("server.pem"),
                p("server.key"),
            ),
        )
        .unwrap();
        let name = format!("docaxis-tls-{}@localhost", std::process::id());
        let mut cmd = Command::new(bin.join("rabbitmq-server"));
        node_env(&mut cmd, dir, &name);
        cmd.env("RABBITMQ_NODE_PORT", node_port.to_string())
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_DIST_PORT", dist_port.to_string())
            .env("ERL_FLAGS", "-kernel inet_dist_use_interface {127,0,0,1}")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.join("server.out")).unwrap())
            .stderr(std::fs::File::create(dir.join("server.err")).unwrap());
        let mut node = Node {
            server: cmd.spawn().expect("start rabbitmq-server"),
            bin,
            dir: dir.to_path_buf(),
            name,
            tls_port,
        };
        // Ready when the TLS listener accepts connections.
        let t0 = Instant::now();
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", tls_port)).is_ok() {
                eprintln!(
                    "node {} ready on TLS port {tls_port} after {:.1} s",
                    node.name,
                    t0.elapsed().as_secs_f64()
                );
                return node;
            }
            if let Ok(Some(status)) = node.server.try_wait() {
                panic!(
                    "rabbitmq-server exited ({status}): {}",
                    std::fs::read_to_string(dir.join("server.out")).unwrap_or_default()
                );
            }
            // Boot takes ~11 s here, far more when the machine is saturated.
            assert!(
                t0.elapsed() < Duration::from_secs(240),
                "node not ready after 240 s"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn url(&self) -> String {
        format!("amqps://guest:guest@localhost:{}/%2f", self.tls_port)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // A clean stop through the node's own control channel first...
        let mut cmd = Command::new(self.bin.join("rabbitmqctl"));
        node_env(&mut cmd, &self.dir, &self.name);
        cmd.args(["-n", &self.name, "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Ok(mut ctl) = cmd.spawn() {
            let t0 = Instant::now();
            while t0.elapsed() < Duration::from_secs(30) {
                if !matches!(ctl.try_wait(), Ok(None)) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = ctl.kill();
            let _ = ctl.wait();
        }
        // ...then make sure: the Erlang VM (its pid is in the pid file) and
        // the start script, both started by this test.
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(15) {
            if !matches!(self.server.try_wait(), Ok(None)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        if let Ok(pid) = std::fs::read_to_string(self.dir.join("rabbitmq.pid")) {
            let pid = pid.trim();
            if !pid.is_empty() && Path::new(&format!("/proc/{pid}")).exists() {
                let _ = Command::new("kill").args(["-KILL", pid]).status();
            }
        }
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

fn tls(dir: &Path, ca: &str, client: Option<&str>) -> TlsOptions {
    TlsOptions {
        ca_pem: Some(dir.join(format!("{ca}.pem"))),
        client_cert_pem: client.map(|c| dir.join(format!("{c}.pem"))),
        client_key_pem: client.map(|c| dir.join(format!("{c}.key"))),
    }
}

fn options(tls: TlsOptions) -> RabbitOptions {
    RabbitOptions {
        prefix: "tls".into(),
        // Connected as the node's admin user, not as the sending agency.
        stamp_user_id: false,
        tap: false,
        tls,
        ..RabbitOptions::default()
    }
}

/// Connecting must fail, and fail by itself (not hang).
async fn refused(url: &str, tls: TlsOptions, what: &str) {
    let r = tokio::time::timeout(
        Duration::from_secs(30),
        RabbitAxis::connect(url, options(tls)),
    )
    .await
    .unwrap_or_else(|_| panic!("{what}: connect hung instead of failing"));
    match r {
        Ok(_) => panic!("{what}: connected, expected a refusal"),
        Err(e) => {
            assert!(
                matches!(e, AxisError::Connection(_) | AxisError::Broker(_)),
                "{what}: {e}"
            );
            eprintln!("{what}: refused as expected: {e}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqps_with_ca_and_client_certificate() {
    let Some(bin) = rabbitmq_bin() else {
        eprintln!("SKIPPED: no RabbitMQ installation (set DOCAXIS_RABBITMQ_BIN)");
        return;
    };
    if !have_openssl() {
        eprintln!("SKIPPED: no openssl to generate the certificates");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    make_pki(dir);
    let node = Node::start(bin, dir);
    let url = node.url();

    // Mutual TLS with the right CA and certificate: a document goes through.
    let axis = RabbitAxis::connect(&url, options(tls(dir, "ca", Some("client"))))
        .await
        .expect("amqps with CA and client certificate");
    let (a, b) = ("000.00.00.G22", "000.00.00.H41");
    axis.setup(&[a, b]).await.unwrap();
    let doc =
        Envelope::document(a, vec![b.into()], "key-1", &b"<edXML>over TLS</edXML>"[..]).unwrap();
    let receipt = axis
        .publish(&doc)
        .await
        .expect("publish confirmed over TLS");
    assert_eq!(receipt.delivered, vec![b.to_string()]);
    let mut inbox = axis.consume(b).await.unwrap();
    let d = inbox
        .next_timeout(Duration::from_secs(20))
        .await
        .expect("delivery over TLS")
        .unwrap();
    assert_eq!(d.envelope, doc);
    d.ack().await.unwrap();
    inbox.close().await.unwrap();
    axis.teardown(&[a, b]).await.unwrap();
    axis.close().await.unwrap();

    // The node refuses clients without a certificate of its CA...
    refused(&url, tls(dir, "ca", None), "no client certificate").await;
    refused(
        &url,
        tls(dir, "ca", Some("rogue-client")),
        "client certificate from another CA",
    )
    .await;
    // ...and the client refuses a node whose certificate it cannot verify.
    refused(
        &url,
        tls(dir, "rogue", Some("client")),
        "node certificate from an untrusted CA",
    )
    .await;
    drop(node);
}
