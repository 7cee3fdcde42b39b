//! A small axis for adapter tests: an operator's root key, a signed
//! directory, agency keys and `agency.toml` files in a temporary directory,
//! over the embedded axis or a RabbitMQ virtual host of its own.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use docaxis_adapter::{run_until, Adapter, Config};
use docaxis_directory::{keys, Agency, AgencyKey, Directory, KeyId, SignedDirectory, SigningKey};
use docaxis_edxml::{organization, Code, Draft, EdDate, Message, OrganId};

/// The agencies of the tests.
pub const AGENCIES: &[(&str, &str)] = &[
    ("000.00.00.G22", "Văn phòng Chính phủ"),
    ("000.00.00.G12", "Bộ Tài chính"),
    ("000.00.00.H41", "UBND tỉnh Nghệ An"),
];

/// Agencies, keys, directory and configs in a temporary directory.
pub struct TestAxis {
    /// The temporary directory holding everything.
    pub dir: tempfile::TempDir,
    /// The axis URL every adapter uses.
    pub axis_url: String,
    /// The agencies' signing keys, in [`AGENCIES`] order.
    pub keys: Vec<SigningKey>,
}

/// The key id of `agency` in the test directory.
pub fn key_id(agency: &str) -> String {
    format!("{}-test", agency.rsplit('.').next().unwrap())
}

impl TestAxis {
    /// `axis_url`: `None` for an embedded axis inside the temp dir.
    pub fn new(axis_url: Option<String>) -> TestAxis {
        let dir = tempfile::tempdir().unwrap();
        let root = SigningKey::from_bytes(&[9; 32]);
        let mut d = Directory::new(time::OffsetDateTime::now_utc() - time::Duration::days(1));
        let mut agency_keys = Vec::new();
        for (i, (id, name)) in AGENCIES.iter().enumerate() {
            let key = SigningKey::from_bytes(&[i as u8 + 1; 32]);
            let organ = OrganId::parse(id).unwrap();
            d.add_agency(Agency::new(organ.clone(), *name, None))
                .unwrap();
            d.add_key(
                &organ,
                AgencyKey::new(
                    KeyId::parse(&key_id(id)).unwrap(),
                    key.verifying_key(),
                    time::OffsetDateTime::now_utc() - time::Duration::days(1),
                    None,
                ),
            )
            .unwrap();
            keys::write_private_key(&dir.path().join(format!("{id}.key")), &key).unwrap();
            agency_keys.push(key);
        }
        SignedDirectory::sign(&d, &root)
            .unwrap()
            .save_new(&dir.path().join("directory.json"))
            .unwrap();
        keys::write_public_key(&dir.path().join("root.pub"), &root.verifying_key()).unwrap();
        let axis_url =
            axis_url.unwrap_or_else(|| format!("file://{}", dir.path().join("axis").display()));
        TestAxis {
            dir,
            axis_url,
            keys: agency_keys,
        }
    }

    /// The temporary directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The data directory of `agency`.
    pub fn data_dir(&self, agency: &str) -> PathBuf {
        self.path().join(agency)
    }

    /// The configuration of `agency` (written to `<agency>.toml` too).
    pub fn config(&self, agency: &str) -> Config {
        let p = self.path();
        let text = format!(
            "organ_id = \"{agency}\"\nkey_file = \"{}\"\nkey_id = \"{}\"\ndirectory = \"{}\"\nroot_pub = \"{}\"\naxis = \"{}\"\ndata_dir = \"{}\"\nscan_interval_ms = 20\n",
            p.join(format!("{agency}.key")).display(),
            key_id(agency),
            p.join("directory.json").display(),
            p.join("root.pub").display(),
            self.axis_url,
            self.data_dir(agency).display(),
        );
        let file = p.join(format!("{agency}.toml"));
        std::fs::write(&file, &text).unwrap();
        Config::from_toml(&text, &file, |_| None).unwrap()
    }

    /// A document from `from` to `to`, numbered `n`, with `text` as content.
    pub fn document(from: &str, to: &[&str], n: usize, text: &str) -> Vec<u8> {
        let name = |id: &str| {
            AGENCIES
                .iter()
                .find(|(a, _)| *a == id)
                .map(|(_, n)| *n)
                .unwrap_or("?")
        };
        let mut draft = Draft::new(
            organization(OrganId::parse(from).unwrap(), name(from)),
            to.iter()
                .map(|t| organization(OrganId::parse(t).unwrap(), name(t)))
                .collect(),
            Code {
                code_number: n.to_string(),
                code_notation: "TEST".into(),
            },
            EdDate::new(docaxis_edxml::EdTimestamp::now().local().date()),
            text.to_owned(),
        );
        draft.sent_at = docaxis_edxml::EdTimestamp::now();
        draft.attach(
            "phu-luc.txt",
            format!("Phụ lục của văn bản {n}").into_bytes(),
        );
        docaxis_edxml::serialize(&Message::Document(Box::new(draft.build())))
    }

    /// Puts a document in `agency`'s outbox the way document systems must:
    /// written elsewhere, then renamed in.
    pub fn drop_in_outbox(&self, agency: &str, name: &str, bytes: &[u8]) {
        let outbox = self.data_dir(agency).join("outbox");
        std::fs::create_dir_all(&outbox).unwrap();
        let tmp = self.path().join(format!(".{agency}.{name}.part"));
        std::fs::write(&tmp, bytes).unwrap();
        std::fs::rename(tmp, outbox.join(name)).unwrap();
    }
}

/// Files (not hidden) in `dir`.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|r| {
            r.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.is_file() && !p.file_name().unwrap().to_string_lossy().starts_with('.')
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The records (`sent/*.json`) of the documents `agency` sent, as JSON.
pub fn sent_records(t: &TestAxis, agency: &str) -> Vec<serde_json::Value> {
    files(&t.data_dir(agency).join("sent"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .filter_map(|p| serde_json::from_slice(&std::fs::read(p).ok()?).ok())
        .collect()
}

/// The statuses `recipient` sent back about a sent record, as recorded.
pub fn statuses_from<'a>(
    record: &'a serde_json::Value,
    recipient: &str,
) -> &'a [serde_json::Value] {
    record["recipients"][recipient]["statuses"]
        .as_array()
        .map_or(&[], Vec::as_slice)
}

/// Adapters running inside the test process (the library, not the
/// binary), stopped cleanly by [`InProcess::stop`].
pub struct InProcess {
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// The adapters, in the order they were started (for their metrics).
    pub adapters: Vec<Arc<Adapter>>,
}

impl InProcess {
    /// Opens and runs the adapters of `agencies` with their test configs.
    pub async fn start(t: &TestAxis, agencies: &[&str]) -> InProcess {
        let configs = agencies.iter().map(|a| t.config(a)).collect();
        InProcess::start_with(configs).await
    }

    /// Opens and runs adapters with the given configurations.
    pub async fn start_with(configs: Vec<Config>) -> InProcess {
        let (stop, rx) = tokio::sync::watch::channel(false);
        let mut tasks = Vec::new();
        let mut adapters = Vec::new();
        for config in configs {
            let adapter = Arc::new(Adapter::open(config).await.unwrap());
            adapters.push(adapter.clone());
            let rx = rx.clone();
            tasks.push(tokio::spawn(async move {
                run_until(adapter, rx).await.unwrap();
            }));
        }
        InProcess {
            stop,
            tasks,
            adapters,
        }
    }

    /// Stops every adapter (SIGTERM's path: finish what is in flight) and
    /// waits for them.
    pub async fn stop(self) {
        self.stop.send(true).unwrap();
        for t in self.tasks {
            t.await.unwrap();
        }
    }
}

/// Waits (up to `secs`) until `f` is true.
pub async fn eventually(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !f() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The `docaxis` binary built beside this executable
/// (`target/<profile>/docaxis`, next to a binary of this crate or one level
/// up from a test in `target/<profile>/deps/`).
pub fn docaxis_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let here = exe.parent().expect("target/<profile>/...");
    let bin = match here.join("docaxis") {
        beside if beside.exists() => beside,
        _ => here.parent().unwrap_or(here).join("docaxis"),
    };
    assert!(
        bin.exists(),
        "{} is missing: the suites run the real binary; build it with `cargo build -p docaxis` (cargo test --workspace does)",
        bin.display()
    );
    bin
}

/// A running `docaxis adapter run` process, killed (SIGKILL) when dropped,
/// so that a failing test never leaves adapters behind.
pub struct AdapterProcess(pub Child);

impl AdapterProcess {
    /// SIGKILL and reap.
    pub fn kill9(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }

    /// SIGTERM and wait for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status()
            .expect("kill -TERM");
        self.0.wait().expect("wait for the adapter")
    }
}

impl Drop for AdapterProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Starts `docaxis adapter run` for `agency` as a separate process,
/// logging at `info` to `<agency>.log` in the test directory.
pub fn spawn_adapter(t: &TestAxis, agency: &str) -> AdapterProcess {
    spawn_adapter_with(t, agency, &[("DOCAXIS_LOG", "info")])
}

/// Like [`spawn_adapter`], with environment variables for the process
/// (`DOCAXIS_<KEY>` overrides of its configuration, the log level...).
pub fn spawn_adapter_with(t: &TestAxis, agency: &str, env: &[(&str, &str)]) -> AdapterProcess {
    t.config(agency);
    let log = std::fs::File::create(t.path().join(format!("{agency}.log"))).unwrap();
    Command::new(docaxis_bin())
        .args(["adapter", "run", "--config"])
        .arg(t.path().join(format!("{agency}.toml")))
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map(AdapterProcess)
        .expect("start docaxis adapter run")
}

/// A RabbitMQ virtual host of a test's own, deleted when dropped, so tests
/// run side by side on one broker without seeing each other's queues.
pub struct Vhost {
    /// Its name.
    pub name: String,
}

impl Vhost {
    /// Creates `t-<tag>-<pid>-<nanos>` with full permissions for guest.
    pub fn new(tag: &str) -> Vhost {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!("t-{tag}-{}-{nanos}", std::process::id());
        // The tests connect as guest and publish for several agencies, as a
        // relay would: the broker lets a user set another user_id only if
        // it is tagged impersonator. (Production adapters connect as their
        // own agency's user; see `docaxis broker provision`.)
        rabbitmqctl(&["set_user_tags", "guest", "administrator", "impersonator"]);
        rabbitmqctl(&["add_vhost", &name]);
        rabbitmqctl(&["set_permissions", "-p", &name, "guest", ".*", ".*", ".*"]);
        Vhost { name }
    }

    /// The URL of this vhost on the local broker.
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:5672/{}", self.name)
    }
}

impl Drop for Vhost {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl")
            .args(["-q", "delete_vhost", &self.name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn rabbitmqctl(args: &[&str]) {
    let out = Command::new("rabbitmqctl")
        .arg("-q")
        .args(args)
        .output()
        .expect("rabbitmqctl (install rabbitmq-server; tests/run.sh does)");
    assert!(
        out.status.success(),
        "rabbitmqctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Drop for TestAxis {
    /// When a test fails, show what the adapters logged: the temporary
    /// directory is about to disappear with the evidence.
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        for f in files(self.dir.path()) {
            if f.extension().is_some_and(|e| e == "log") {
                let text = std::fs::read_to_string(&f).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(40).collect();
                eprintln!("---- {} (last 40 lines) ----", f.display());
                for l in tail.iter().rev() {
                    eprintln!("{l}");
                }
            }
        }
    }
}
