//! `docaxis demo`, run as a user runs it: on the embedded axis (no broker)
//! and on the real RabbitMQ. Each run must end with exit 0 and the figures
//! of the plan, read back from its JSON report.

use std::process::Command;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_docaxis");

/// Runs the demo with `args` and returns its JSON report.
fn demo(args: &[&str]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("demo");
    let out = Command::new(BIN)
        .args([
            "demo",
            "--format",
            "json",
            "--listen",
            "127.0.0.1:0",
            "--dir",
        ])
        .arg(&work)
        .args(args)
        // From elsewhere than the repository: the seeds are built in.
        .current_dir(dir.path())
        .env_remove("DOCAXIS_AXIS_DIR")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "demo {args:?} exited {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("one JSON report on stdout");
    // Everything the demo created is in its directory, as --keep promises.
    for f in [
        "operator/directory.json",
        "operator/root.pub",
        "tracker/tracker.db",
        "agencies/000.00.00.G22/agency.toml",
    ] {
        assert!(work.join(f).exists(), "{f} missing");
    }
    report
}

fn check(report: &Value) {
    assert_eq!(report["problems"], Value::Array(vec![]), "{report:#}");
    assert_eq!(report["figures"], report["expected"], "{report:#}");
    let f = &report["figures"];
    assert_eq!(f["documents"], 5);
    assert_eq!(f["expected"], 16);
    assert_eq!(f["arrived"], 16);
    assert_eq!(f["accepted"], 11);
    assert_eq!(f["refused"], 1);
    assert_eq!(f["completed"], 4);
    assert_eq!(f["recalled"], 4);
    assert_eq!(f["recall_agreed"], 4);
    assert_eq!(report["inbox_files"], 16);
    assert_eq!(report["delivery_rate"], 1.0);
    // One table row per sender → recipient pair of the plan (14 pairs).
    assert_eq!(report["table"]["rows"].as_array().unwrap().len(), 14);
    assert_eq!(report["refusals"].as_array().unwrap().len(), 2);
}

#[test]
fn the_demo_runs_on_the_embedded_axis() {
    let r = demo(&[]);
    check(&r);
    assert!(r["axis"].as_str().unwrap().starts_with("embedded"), "{r:#}");
}

#[test]
fn the_demo_runs_on_rabbitmq() {
    let url = std::env::var("DOCAXIS_TEST_AMQP")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672".into());
    let r = demo(&["--amqp", &url]);
    check(&r);
    let axis = r["axis"].as_str().unwrap();
    assert!(axis.starts_with("RabbitMQ, vhost docaxis-demo-"), "{r:#}");
    // The demo removed its vhost.
    let vhost = axis
        .trim_start_matches("RabbitMQ, vhost ")
        .split(',')
        .next()
        .unwrap();
    let vhosts = Command::new("rabbitmqctl")
        .args(["list_vhosts", "-q"])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&vhosts.stdout).contains(vhost),
        "vhost {vhost} left behind"
    );
}

/// deploy/cluster/cluster.sh brings three RabbitMQ nodes up on this
/// machine, each agency's queue is a quorum queue replicated on all three,
/// the demo runs against the cluster, and the script takes it down again.
#[test]
fn the_demo_runs_on_a_three_node_cluster() {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/cluster/cluster.sh"
    );
    let data = tempfile::tempdir().unwrap();
    let name = format!("docaxis-test{}", std::process::id() % 1000);
    let cluster = |args: &[&str]| {
        let out = Command::new("bash")
            .arg(script)
            .args(args)
            .env("DOCAXIS_CLUSTER_NAME", &name)
            .env("DOCAXIS_CLUSTER_DIR", data.path().join("cluster"))
            .env("DOCAXIS_CLUSTER_BASE_PORT", "5690")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "cluster.sh {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    /// Takes the cluster down even when an assertion fails.
    struct Down<F: Fn(&[&str]) -> String>(F);
    impl<F: Fn(&[&str]) -> String> Drop for Down<F> {
        fn drop(&mut self) {
            (self.0)(&["down"]);
        }
    }
    let up = cluster(&["up"]);
    let cluster = Down(cluster);
    assert!(up.contains("3 nodes running"), "{up}");
    let node1 = format!("{name}-1@localhost");

    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["demo", "--format", "json", "--listen", "127.0.0.1:0"])
        .args(["--amqp", "amqp://guest:guest@127.0.0.1:5691"])
        .current_dir(dir.path())
        .env("RABBITMQ_NODENAME", &node1)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "demo on the cluster: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    check(&serde_json::from_slice(&out.stdout).unwrap());

    // An agency queue declared on the cluster has a member on every node.
    let vhost = "docaxis-cluster-check";
    let ctl = |args: &[&str]| {
        let o = Command::new("rabbitmqctl")
            .args(["-n", &node1])
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "rabbitmqctl {args:?}: {o:?}");
    };
    ctl(&["add_vhost", vhost]);
    ctl(&["set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"]);
    drop(cluster_setup(vhost));
    let members = Command::new("rabbitmq-queues")
        .args(["-n", &node1, "quorum_status", "-p", vhost])
        .arg("docaxis.in.000.00.00.G22")
        .output()
        .unwrap();
    let members = String::from_utf8_lossy(&members.stdout);
    for n in 1..=3 {
        assert!(
            members.contains(&format!("{name}-{n}@localhost")),
            "no member on node {n}: {members}"
        );
    }
    drop(cluster);
}

/// Declares the topology for one agency on the test cluster's node 1.
fn cluster_setup(vhost: &str) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = |args: &[&str]| {
        let o = Command::new(BIN)
            .args(args)
            .current_dir(d)
            .output()
            .unwrap();
        assert!(o.status.success(), "docaxis {args:?}: {o:?}");
        o
    };
    run(&["keygen", "--out", "root"]);
    run(&[
        "directory",
        "init",
        "--root-key",
        "root.key",
        "--out",
        "directory.json",
    ]);
    run(&[
        "directory",
        "add",
        "--root-key",
        "root.key",
        "--id",
        "000.00.00.G22",
        "--name",
        "VPCP",
    ]);
    run(&[
        "broker",
        "setup",
        "--axis",
        &format!("amqp://guest:guest@127.0.0.1:5691/{vhost}"),
        "--directory",
        "directory.json",
        "--root-pub",
        "root.pub",
    ])
}
