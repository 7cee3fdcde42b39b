//! The CLI as a user runs it: real files, real exit codes.

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_docaxis");
const SEED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../seeds/003_c3f26192a9f182c0.txt"
);
const SEED_SMALL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../seeds/000_4709921e39f7032c.txt"
);

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("DOCAXIS_DIRECTORY")
        .env_remove("DOCAXIS_ROOT_PUB")
        .env_remove("DOCAXIS_FORMAT")
        .output()
        .expect("run docaxis")
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = run(dir, args);
    assert!(
        out.status.success(),
        "docaxis {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// An axis operator with a root key and a directory listing one agency.
fn operator() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["keygen", "--out", "root"]);
    ok(d, &["keygen", "--out", "vpcp"]);
    ok(
        d,
        &[
            "directory",
            "init",
            "--root-key",
            "root.key",
            "--out",
            "directory.json",
        ],
    );
    ok(
        d,
        &[
            "directory",
            "add",
            "--root-key",
            "root.key",
            "--id",
            "000.00.00.G22",
            "--name",
            "Văn phòng Chính phủ",
        ],
    );
    ok(
        d,
        &[
            "directory",
            "add-key",
            "--root-key",
            "root.key",
            "--id",
            "000.00.00.G22",
            "--key-id",
            "G22-2026",
            "--public",
            "vpcp.pub",
            "--not-before",
            "2020-01-01T00:00:00Z",
        ],
    );
    dir
}

fn compose(d: &Path, out: &str) {
    ok(
        d,
        &[
            "new",
            "--from",
            "000.00.00.G22=Văn phòng Chính phủ",
            "--to",
            "000.00.00.G12=Bộ Tài chính",
            "--to",
            "000.00.00.H41=UBND tỉnh Nghệ An",
            "--number",
            "123",
            "--notation",
            "VPCP-KSTT",
            "--priority",
            "1",
            "--content-file",
            SEED,
            "--attach",
            SEED_SMALL,
            "--out",
            out,
        ],
    );
}

/// Signs `input` as G22 with the operator fixture's agency key.
fn sign(d: &Path, input: &str, out: &str) {
    ok(
        d,
        &[
            "sign", input, "--key", "vpcp.key", "--key-id", "G22-2026", "--out", out,
        ],
    );
}

#[test]
fn private_keys_are_0600_and_never_overwritten() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    ok(dir.path(), &["keygen", "--out", "a"]);
    let mode = std::fs::metadata(dir.path().join("a.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let before = std::fs::read(dir.path().join("a.key")).unwrap();
    let again = run(dir.path(), &["keygen", "--out", "a"]);
    assert_eq!(again.status.code(), Some(2));
    assert_eq!(std::fs::read(dir.path().join("a.key")).unwrap(), before);
}

#[test]
fn compose_validate_sign_verify() {
    let op = operator();
    let d = op.path();
    compose(d, "cv.xml");
    assert!(ok(d, &["validate", "cv.xml"]).contains("valid document 000.00.00.G22,"));
    sign(d, "cv.xml", "cv.signed.xml");
    let json = ok(
        d,
        &[
            "--format",
            "json",
            "verify",
            "cv.signed.xml",
            "--root-pub",
            "root.pub",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(v["signer"], "000.00.00.G22");
    assert_eq!(v["key_id"], "G22-2026");
    assert_eq!(v["digest"].as_str().unwrap().len(), 64);
}

#[test]
fn refusals_exit_1_with_the_reason() {
    let op = operator();
    let d = op.path();
    compose(d, "cv.xml");
    sign(d, "cv.xml", "cv.signed.xml");
    let signed = std::fs::read_to_string(d.join("cv.signed.xml")).unwrap();
    std::fs::write(
        d.join("tampered.xml"),
        signed.replacen("Bộ Tài chính", "Bộ Tài chinh", 1),
    )
    .unwrap();
    let out = run(
        d,
        &[
            "--format",
            "json",
            "verify",
            "tampered.xml",
            "--root-pub",
            "root.pub",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["valid"], false);
    assert!(v["error"]
        .as_str()
        .unwrap()
        .contains("changed after signing"));

    // An invalid document: every problem with its path and line.
    let xml = std::fs::read_to_string(d.join("cv.xml")).unwrap();
    let broken = xml
        .replacen("<edXML:Priority>1<", "<edXML:Priority>8<", 1)
        .replacen(
            "<edXML:OrganId>000.00.00.H41<",
            "<edXML:OrganId>000.00.00.G12<",
            1,
        );
    std::fs::write(d.join("broken.xml"), broken).unwrap();
    let out = run(d, &["--format", "json", "validate", "broken.xml"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let errors = v[0]["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["path"], "MessageHeader/OtherInfo/Priority");
    assert!(errors[0]["position"]["line"].as_u64().unwrap() > 1);

    // An invalid document is not signed.
    let out = run(
        d,
        &[
            "sign",
            "broken.xml",
            "--key",
            "vpcp.key",
            "--key-id",
            "G22-2026",
            "--out",
            "x.xml",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(!d.join("x.xml").exists());
}

#[test]
fn a_tampered_directory_is_refused() {
    let op = operator();
    let d = op.path();
    let text = std::fs::read_to_string(d.join("directory.json")).unwrap();
    std::fs::write(
        d.join("directory.json"),
        text.replacen("Văn phòng", "Văn  phòng", 1),
    )
    .unwrap();
    let out = run(d, &["directory", "verify", "--root-pub", "root.pub"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    compose(d, "cv.xml");
    let out = run(d, &["verify", "cv.xml", "--root-pub", "root.pub"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("directory"));
}

#[test]
fn missing_files_exit_2_and_help_teaches() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["validate", "nothere.xml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothere.xml"));
    let help = ok(dir.path(), &["new", "--help"]);
    assert!(help.contains("Example"));
    assert!(help.contains("--priority"));
}

/// `rabbitmqctl` with `args`, which must succeed; its stdout.
fn rabbitmqctl(args: &[&str]) -> String {
    let out = Command::new("rabbitmqctl")
        .args(args)
        .output()
        .expect("rabbitmqctl (install rabbitmq-server; tests/run.sh does)");
    assert!(out.status.success(), "rabbitmqctl {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// `broker setup` declares the directory's agencies on the real RabbitMQ
/// (idempotently), and `broker provision` creates their users with
/// passwords written 0600 — or only prints the definitions.
#[test]
fn broker_setup_and_provision_follow_the_directory() {
    use std::os::unix::fs::PermissionsExt;
    let op = operator();
    let d = op.path();
    let vhost = format!("docaxis-cli-test-{}", std::process::id());
    rabbitmqctl(&["add_vhost", &vhost]);
    rabbitmqctl(&["set_permissions", "-p", &vhost, "guest", ".*", ".*", ".*"]);
    let url = format!("amqp://guest:guest@127.0.0.1:5672/{vhost}");
    let args = [
        "broker",
        "setup",
        "--axis",
        &url,
        "--directory",
        "directory.json",
        "--root-pub",
        "root.pub",
    ];
    let first = ok(d, &args);
    assert!(first.contains("1 agencies"), "{first}");
    ok(d, &args); // again: nothing changes, nothing fails
    let queues = rabbitmqctl(&["list_queues", "-q", "-p", &vhost, "name", "type"]);
    assert!(
        queues.contains("docaxis.in.000.00.00.G22\tquorum"),
        "{queues}"
    );
    assert!(queues.contains("docaxis.dlq.000.00.00.G22"), "{queues}");
    assert!(queues.contains("docaxis.tap\tquorum"), "{queues}");

    let defs = ok(
        d,
        &[
            "broker",
            "provision",
            "--directory",
            "directory.json",
            "--root-pub",
            "root.pub",
            "--vhost",
            &vhost,
            "--print-definitions",
        ],
    );
    let defs: serde_json::Value = serde_json::from_str(&defs).unwrap();
    assert_eq!(defs["users"][0]["name"], "000.00.00.G22");
    assert!(
        !defs.to_string().contains("\"password\""),
        "no clear password"
    );

    let tracker = format!("{vhost}-tracker");
    let out = ok(
        d,
        &[
            "--format",
            "json",
            "broker",
            "provision",
            "--directory",
            "directory.json",
            "--root-pub",
            "root.pub",
            "--vhost",
            &vhost,
            "--tracker-user",
            &tracker,
            "--out-dir",
            "passwords",
        ],
    );
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["users"][0], "000.00.00.G22");
    let secret = d.join("passwords/000.00.00.G22.password");
    let mode = std::fs::metadata(&secret).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(std::fs::read_to_string(&secret).unwrap().len(), 32);
    let perms = rabbitmqctl(&["list_permissions", "-q", "-p", &vhost]);
    assert!(
        perms.contains("000.00.00.G22\t^$\t^docaxis\\.(documents|statuses|dead)$"),
        "{perms}"
    );
    rabbitmqctl(&["delete_vhost", &vhost]);
    for user in [tracker.as_str(), "000.00.00.G22"] {
        rabbitmqctl(&["delete_user", user]);
    }
}

/// The example configurations in deploy/ are what the daemons accept.
#[test]
fn the_example_configurations_parse() {
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy");
    let agency =
        docaxis_adapter::Config::load(&deploy.join("agency.example.toml"), |_| None).unwrap();
    assert_eq!(agency.organ_id.as_str(), "000.00.00.G22");
    assert!(agency.http.is_some_and(|a| a.ip().is_loopback()));
    let tracker = deploy.join("tracker.example.toml");
    let out = ok(
        &deploy,
        &[
            "--format",
            "json",
            "tracker",
            "config",
            "--config",
            tracker.to_str().unwrap(),
        ],
    );
    let t: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(t["db"], "/var/lib/docaxis/tracker.db");
}
