//! The crash test: the sending and the receiving adapter, as separate
//! processes, are each killed with SIGKILL at random moments while
//! documents flow; after restarts every document is in the inbox exactly
//! once and every sender record holds its 01.
//!
//! Size: `DOCAXIS_CRASH_DOCS` documents (default 300, so CI stays quick;
//! the figure is 5,000: `DOCAXIS_CRASH_DOCS=5000 cargo test -p
//! docaxis-suites --release --test adapter_crash -- --nocapture`), over the
//! embedded axis and over RabbitMQ.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use docaxis_suites::agencies::*;

const G22: &str = "000.00.00.G22";
const G12: &str = "000.00.00.G12";

/// xorshift64*: enough randomness for kill times, reproducible from the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }
}

fn doc_ids_in(dir: &std::path::Path) -> Vec<String> {
    files(dir)
        .iter()
        .map(|p| {
            let bytes = std::fs::read(p).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            let start = text.find("<edXML:DocumentId>").unwrap() + "<edXML:DocumentId>".len();
            let end = text[start..].find('<').unwrap() + start;
            text[start..end].to_owned()
        })
        .collect()
}

fn arrived_records(t: &TestAxis) -> usize {
    files(&t.data_dir(G22).join("sent"))
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .filter(|p| {
            let r: serde_json::Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
            r["recipients"][G12]["statuses"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["code"] == "01")
        })
        .count()
}

async fn crash_run(t: TestAxis, tag: &str) {
    let n: usize = std::env::var("DOCAXIS_CRASH_DOCS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let axis = docaxis_axis::connect(Some(&t.axis_url)).await.unwrap();
    axis.setup(&[G22, G12]).await.unwrap();
    axis.close().await.unwrap();
    for i in 0..n {
        let doc = TestAxis::document(
            G22,
            &[G12],
            i,
            &format!("Văn bản số {i} trong phép thử sự cố."),
        );
        t.drop_in_outbox(G22, &format!("cv{i:05}.xml"), &doc);
    }
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    println!("[{tag}] {n} documents, kill seed {seed}");
    let mut rng = Rng(seed);
    let mut sender = spawn_adapter(&t, G22);
    let mut receiver = spawn_adapter(&t, G12);
    let inbox = t.data_dir(G12).join("inbox");
    let started = Instant::now();
    let deadline = started + Duration::from_secs(60 + n as u64 / 10);
    let mut kills = (0, 0);
    loop {
        let delivered = files(&inbox).len();
        if delivered >= n && arrived_records(&t) == n {
            break;
        }
        if Instant::now() > deadline {
            let missing: Vec<String> = files(&t.data_dir(G22).join("sent"))
                .iter()
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .filter_map(|p| {
                    let r: serde_json::Value =
                        serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
                    let ok = r["recipients"][G12]["statuses"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|s| s["code"] == "01");
                    (!ok).then(|| format!("{} sent_at={}", r["document_id"], r["sent_at"]))
                })
                .collect();
            if std::env::var_os("DOCAXIS_KEEP_TEST_DIR").is_some() {
                println!("kept {}", t.path().display());
                std::mem::forget(t);
            }
            panic!("[{tag}] stuck: {delivered} of {n} delivered after {} kills; records without 01: {missing:?}", kills.0 + kills.1);
        }
        // Kill during the first part of the run, then let it finish.
        if kills.0 + kills.1 < 12 {
            tokio::time::sleep(Duration::from_millis(rng.between(150, 900))).await;
            if rng.next().is_multiple_of(2) {
                sender.kill9();
                sender = spawn_adapter(&t, G22);
                kills.0 += 1;
            } else {
                receiver.kill9();
                receiver = spawn_adapter(&t, G12);
                kills.1 += 1;
            }
        } else {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // Let anything still in flight land, then count.
    tokio::time::sleep(Duration::from_millis(500)).await;
    sender.kill9();
    receiver.kill9();
    let ids = doc_ids_in(&inbox);
    let unique: HashSet<_> = ids.iter().collect();
    println!(
        "[{tag}] {} sender kills, {} receiver kills; inbox {} files, {} distinct; sent records with 01: {}; {:.1}s",
        kills.0,
        kills.1,
        ids.len(),
        unique.len(),
        arrived_records(&t),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(unique.len(), n, "[{tag}] documents lost");
    assert_eq!(
        ids.len(),
        n,
        "[{tag}] documents delivered into the inbox twice"
    );
    assert!(files(&t.data_dir(G22).join("outbox")).is_empty());
    assert!(files(&t.data_dir(G22).join("rejected")).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_and_duplicates_nothing_on_the_embedded_axis() {
    crash_run(TestAxis::new(None), "embedded").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_and_duplicates_nothing_on_rabbitmq() {
    let vhost = Vhost::new("crash");
    crash_run(TestAxis::new(Some(vhost.url())), "rabbitmq").await;
}
