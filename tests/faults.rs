//! The fault suite: documents in flight between three agencies whose
//! adapters and tracker run as real `docaxis` processes on a real RabbitMQ,
//! while something breaks. At the end every outbox is compared with every
//! inbox, every sender's records (`sent/`, the 01 of every recipient) and
//! the tracker's figures: no document lost, none delivered into an inbox
//! twice, the tracker's counts exact. Each case prints its row of the
//! fault table.
//!
//! | case | fault |
//! |---|---|
//! | `sigkill` | sending adapter, receiving adapter and tracker each SIGKILLed at random moments, several times (shared broker, own vhost) |
//! | `broker` | a RabbitMQ node of the test's own: `rabbitmqctl stop_app` / `start_app` mid-run, then the node's Erlang VM SIGKILLed and started again |
//! | `network_cut` | a TCP proxy between one adapter and the broker black-holes every connection and refuses new ones for longer than the heartbeat (5 s) |
//! | `disk_full` | the receiving agency's data directory is a 20 MB tmpfs, filled mid-run, freed later |
//! | `cluster` | deploy/cluster's three-node cluster loses the node leading the agencies' quorum queues, then gets it back |
//!
//! CI size (`DOCAXIS_FAULT_DOCS`, default 300 documents per case, each to
//! two recipients); the full size:
//!
//! ```text
//! cargo build -p docaxis --release && \
//! DOCAXIS_FAULT_DOCS=3000 cargo test -p docaxis-suites --release --test faults -- --nocapture --test-threads 1
//! ```
//!
//! `DOCAXIS_FAULT_SEED` replays the fault times of a run (each case
//! prints its seed); `DOCAXIS_FAULT_TABLE=<file>` collects the rows.
//! Needs RabbitMQ installed (the shared broker on 5672 for `sigkill`,
//! `network_cut` and `disk_full`; `/usr/lib/rabbitmq/bin` for the nodes
//! the `broker` and `cluster` cases start), and root for the tmpfs.

use std::time::Duration;

use docaxis_suites::agencies::{Vhost, AGENCIES};
use docaxis_suites::faults::cluster::Cluster;
use docaxis_suites::faults::node::Node;
use docaxis_suites::faults::proxy::Proxy;
use docaxis_suites::faults::tmpfs::Tmpfs;
use docaxis_suites::faults::world::{docs_per_case, Fault, Proc, Rng, World};

/// Sending adapter, receiving adapter and tracker SIGKILLed at random
/// moments while documents flow; each restarted at once.
#[test]
fn sigkill_of_adapters_and_tracker() {
    let vhost = Vhost::new("faults-kill");
    let mut world = World::new(&vhost.url());
    let mut rng = Rng::new();
    let row = world.run("sigkill", docs_per_case(), |f| {
        // Every agency sends and receives, so each kill of G22's or H41's
        // adapter hits a sender and a receiver at once; G12's adapter is
        // left alone, the tracker is killed too. At least three times each,
        // until 90% of the workload has been dropped.
        let victims = [Proc::Adapter(0), Proc::Adapter(2), Proc::Tracker];
        let mut kills = [0; 3];
        while f.fed() < f.total() * 9 / 10 || kills.iter().any(|k| *k < 3) {
            f.sleep(Duration::from_millis(rng.between(200, 1500)));
            let i = (rng.draw() % 3) as usize;
            f.kill(victims[i]);
            f.start(victims[i]);
            kills[i] += 1;
        }
        f.note(format!(
            "SIGKILL: {} x{}, {} x{}, tracker x{}",
            AGENCIES[0].0, kills[0], AGENCIES[2].0, kills[1], kills[2]
        ));
    });
    row.assert_ok();
}

/// A node of the test's own: the broker application stopped and started
/// again (`rabbitmqctl stop_app` / `start_app`) a third of the way through,
/// then the whole node killed outright (SIGKILL of its Erlang VM) two
/// thirds of the way through and booted again. One test, so that the two
/// faults never overlap.
#[test]
fn broker_stopped_and_killed() {
    let Some(mut node) = Node::start("faults") else {
        return;
    };
    let url = node.url();
    let mut world = World::new(&url);
    // A node takes tens of seconds to boot on a busy machine: the feed
    // lasts long enough for both faults to hit documents in flight.
    world.feed_over(Duration::from_secs(90));
    let row = world.run("broker", docs_per_case(), |f| {
        f.until_fed(0.25);
        f.note(format!("stop_app at {} dropped", f.fed()));
        node.stop_app();
        f.sleep(Duration::from_secs(10));
        f.note(format!("start_app 10 s later ({} dropped)", f.fed()));
        node.start_app();
        f.until_fed(0.6);
        f.note(format!("Erlang VM SIGKILLed at {} dropped", f.fed()));
        node.kill9();
        f.sleep(Duration::from_secs(3));
        node.boot();
        f.note(format!("node booted again ({} dropped)", f.fed()));
    });
    row.assert_ok();
}

/// One adapter (G12) reaches the broker only through a proxy; its URL asks
/// for a 5 s heartbeat. The network is cut for 20 s a third of the way
/// through: its connections go silent, new ones are refused. The adapter
/// must notice by itself (heartbeat: no connection of its own still held
/// at the end of the cut), take documents in again within 60 s of the
/// network coming back, and lose and duplicate nothing.
#[test]
fn network_cut_longer_than_the_heartbeat() {
    let vhost = Vhost::new("faults-cut");
    let proxy = Proxy::start("127.0.0.1:5672".parse().unwrap());
    let mut world = World::new(&vhost.url());
    world.route(
        Proc::Adapter(1),
        &format!("{}?heartbeat=5", proxy.url_for(&vhost.url())),
    );
    // Documents keep coming during the whole cut.
    world.feed_over(Duration::from_secs(30));
    let mut report = None;
    let mut resumed = None;
    let receiver = AGENCIES[1].0;
    let row = world.run("network_cut", docs_per_case(), |f| {
        f.until_fed(0.3);
        f.note(format!("cut at {} dropped", f.fed()));
        proxy.cut();
        f.sleep(Duration::from_secs(20));
        let r = proxy.restore();
        f.note(format!(
            "restored after 20 s: {} connections silenced, {} still held by the adapter, {} refused",
            r.severed, r.still_held_by_client, r.refused
        ));
        report = Some(r);
        // What piled up in its queue during the cut starts coming in.
        let before = f.inbox_len(receiver);
        let t0 = std::time::Instant::now();
        while t0.elapsed() < Duration::from_secs(60) {
            if f.inbox_len(receiver) > before {
                resumed = Some(t0.elapsed());
                break;
            }
            f.sleep(Duration::from_millis(100));
        }
        f.note(format!(
            "{receiver} received again {:.1} s after the network came back",
            resumed.map_or(f64::NAN, |d| d.as_secs_f64())
        ));
    });
    row.assert_ok();
    let report = report.unwrap();
    assert!(report.severed > 0, "the cut hit no connection: {report:?}");
    assert_eq!(
        report.still_held_by_client, 0,
        "the adapter kept a dead connection for 20 s: the heartbeat did not detect the cut"
    );
    // Back to work soon after the network is: a reconnection, not minutes.
    assert!(
        resumed.is_some(),
        "{receiver} received nothing for 60 s after the network came back"
    );
}

/// The receiving agency (G12, which only receives here) has its data
/// directory on a 64 MB tmpfs. A third of the way through the tmpfs is
/// filled, and kept full for 15 s: the adapter must stop taking documents
/// in (nothing acknowledged that is not in the inbox), say why in its log,
/// and take everything in exactly once when space returns.
#[test]
fn receiving_disk_full() {
    let vhost = Vhost::new("faults-disk");
    let mut world = World::new(&vhost.url());
    let receiver = AGENCIES[1].0;
    let Some(disk) = Tmpfs::mount(&world.axis.data_dir(receiver), 64) else {
        return;
    };
    world.senders(&[0, 2]);
    // Documents keep coming while the disk is full.
    world.feed_over(Duration::from_secs(30));
    let mut held = (0, 0);
    let mut log_before = 0;
    let row = world.run("disk_full", docs_per_case(), |f| {
        f.until_fed(0.3);
        log_before = f.log(Proc::Adapter(1)).len();
        let filled = disk.fill();
        f.note(format!(
            "{receiver}'s disk filled ({} kB) at {} dropped, {} in its inbox",
            filled / 1024,
            f.fed(),
            f.inbox_len(receiver)
        ));
        // Whatever the adapter frees meanwhile is taken again at once.
        let full_for = |f: &mut Fault<'_>, d: Duration| {
            let end = std::time::Instant::now() + d;
            while std::time::Instant::now() < end {
                disk.fill();
                f.sleep(Duration::from_millis(100));
            }
        };
        full_for(f, Duration::from_secs(3));
        held.0 = f.inbox_len(receiver);
        full_for(f, Duration::from_secs(12));
        held.1 = f.inbox_len(receiver);
        disk.free();
        f.note(format!(
            "freed 15 s later at {} dropped; inbox {} -> {} while full",
            f.fed(),
            held.0,
            held.1
        ));
    });
    let log = world.log(Proc::Adapter(1));
    let said = log[log_before..]
        .lines()
        .find(|l| l.contains("No space left on device"))
        .map(str::to_owned);
    println!("[disk_full] the adapter said: {said:?}");
    row.assert_ok();
    assert_eq!(held.0, held.1, "documents entered the inbox of a full disk");
    assert!(
        said.is_some(),
        "the adapter did not say that its disk is full"
    );
    // `disk` is unmounted before `world` removes its directory (reverse
    // order of declaration), also when an assertion fails.
}

/// deploy/cluster's three nodes; the topology declared through node 1, so
/// that node 1 leads the agencies' quorum queues (RabbitMQ places a
/// queue's leader on the node of the declaring client). Each adapter takes
/// one URL: the adapters and the tracker connect to the two other nodes,
/// spread over both. A third of the way through, the node leading the
/// queues is stopped (`cluster.sh stop`); the queues elect leaders on the
/// surviving nodes and the work goes on; 15 s later the node is started
/// again and rejoins.
#[test]
fn cluster_loses_the_queue_leader() {
    let Some(cluster) = Cluster::up(5750) else {
        return;
    };
    let mut world = World::new(&cluster.url(1));
    let inbox_leaders: Vec<(String, String)> = cluster
        .leaders(1)
        .into_iter()
        .filter(|(q, _)| q.starts_with("docaxis.in."))
        .collect();
    println!("[cluster] leaders: {inbox_leaders:?}");
    let leader = (1..=3)
        .max_by_key(|n| {
            inbox_leaders
                .iter()
                .filter(|(_, l)| *l == cluster.node(*n))
                .count()
        })
        .unwrap();
    assert_eq!(inbox_leaders.len(), AGENCIES.len(), "{inbox_leaders:?}");
    let survivors: Vec<usize> = (1..=3).filter(|n| *n != leader).collect();
    for (i, p) in [
        Proc::Adapter(0),
        Proc::Adapter(1),
        Proc::Adapter(2),
        Proc::Tracker,
    ]
    .into_iter()
    .enumerate()
    {
        world.route(p, &cluster.url(survivors[i % 2]));
    }
    world.feed_over(Duration::from_secs(40));
    let row = world.run("cluster", docs_per_case(), |f| {
        f.until_fed(0.3);
        let at = f.fed();
        cluster.stop(leader);
        let after = cluster.leaders(survivors[0]);
        f.note(format!(
            "leader node {leader} stopped at {at} dropped; inbox leaders now {:?}",
            after
                .iter()
                .filter(|(q, _)| q.starts_with("docaxis.in."))
                .map(|(_, l)| l.as_str())
                .collect::<Vec<_>>()
        ));
        f.sleep(Duration::from_secs(15));
        cluster.start(leader);
        f.note(format!(
            "node {leader} started again at {} dropped",
            f.fed()
        ));
    });
    row.assert_ok();
}
