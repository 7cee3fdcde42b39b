//! Adapter memory: the heap the receive journal's index holds per message
//! received, and the sent store per document sent, as an adapter rebuilds
//! them at start-up from a data directory that holds a quarter, half and
//! all of `N` of them (both are kept for every message of the adapter's
//! whole history, so bytes per message is the figure to watch).
//!
//! ```sh
//! cargo run --release -p docaxis-adapter --example memory            # N = 100,000
//! ADAPTER_MEMORY_MESSAGES=20000 cargo run --release -p docaxis-adapter --example memory
//! ```
//!
//! The journal holds, per document received, its `received` and
//! `answered` lines, and one status received (a 01 about a document the
//! agency sent): shaped like an agency's traffic on the axis. The sent
//! store holds one `.json` record per document sent.

#[path = "../../tracker/tests/common/counting.rs"]
mod counting;

#[global_allocator]
static ALLOC: counting::Counting = counting::Counting;

use std::fs;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use docaxis_adapter::fsio::Spares;
use docaxis_adapter::journal::Journal;
use docaxis_adapter::sent::SentStore;
use sha2::{Digest, Sha256};

const ME: &str = "000.00.00.G22";

/// Agency `i` of 130 (the national shape: ministries, provinces, units).
fn agency(i: u64) -> String {
    match i % 130 {
        i @ 0..31 => format!("000.00.00.G{:02}", i + 1),
        i @ 31..94 => format!("000.00.00.H{:02}", i - 30),
        i => format!("000.00.{:02}.G{:02}", 10 + i % 20, 1 + i % 31),
    }
}

fn digest(what: &str, i: u64) -> String {
    hex::encode(Sha256::digest(format!("{what}{i}")))
}

fn document_id(sender: &str, i: u64) -> String {
    format!("{sender},2022/07/{:02},{i}/SYN", 1 + i % 31)
}

fn stem(document_id: &str, digest: &str) -> String {
    format!(
        "{}.{}",
        document_id.replace(',', "_").replace('/', "-"),
        &digest[..12]
    )
}

/// A journal of `n` documents received (answered) and `n` statuses.
fn write_journal(dir: &Path, n: u64) {
    let mut w = BufWriter::new(fs::File::create(dir.join("journal.jsonl")).unwrap());
    for i in 0..n {
        let sender = agency(i);
        let (id, d) = (document_id(&sender, i), digest("d", i));
        let lines = [
            serde_json::json!({"op": "received", "kind": "document", "digest": d,
                "document_id": id, "sender": sender,
                "file": format!("inbox/{}.xml", stem(&id, &d))}),
            serde_json::json!({"op": "answered", "digest": d}),
        ];
        let mine = document_id(ME, i);
        let s = digest("s", i);
        let status = serde_json::json!({"op": "received", "kind": "status", "digest": s,
            "document_id": mine, "sender": sender,
            "file": format!("status-inbox/{}.01.{sender}.xml", stem(&mine, &s))});
        for l in lines.iter().chain([&status]) {
            serde_json::to_writer(&mut w, l).unwrap();
            w.write_all(b"\n").unwrap();
        }
    }
    w.flush().unwrap();
}

/// A `sent/` folder of `n` records.
fn write_sent(dir: &Path, n: u64) {
    for i in 0..n {
        let id = document_id(ME, i);
        let d = digest("d", i);
        let recipients: serde_json::Map<String, serde_json::Value> = (0..3)
            .map(|k| {
                let status = serde_json::json!({"statuses": [{"code": "01", "label": "arrived",
                    "at": "2022/07/01 08:31:00"}]});
                (agency(i + k * 7), status)
            })
            .collect();
        let record = serde_json::json!({"document_id": id, "message_id": d,
            "sent_at": "2022-07-01T08:30:00+07:00", "source": format!("{i}.xml"),
            "recipients": recipients});
        fs::write(
            dir.join(format!("{}.json", stem(&id, &d))),
            serde_json::to_vec(&record).unwrap(),
        )
        .unwrap();
    }
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let n = env("ADAPTER_MEMORY_MESSAGES", 100_000);
    let sent = env("ADAPTER_MEMORY_SENT", n / 5);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!("docaxis-adapter memory: journal of up to {n} documents + {n} statuses received, sent/ of up to {sent} records");
    for m in [n / 4, n / 2, n] {
        let dir = tempfile::tempdir().unwrap();
        write_journal(dir.path(), m);
        let (before, blocks) = (counting::live(), counting::blocks());
        let spares = Arc::new(Spares::open(&dir.path().join(".spare")).unwrap());
        let j = rt.block_on(async { Journal::open(dir.path(), spares).unwrap() });
        let (heap, blocks) = (counting::live() - before, counting::blocks() - blocks);
        let messages = j.len();
        assert_eq!(messages as u64, 2 * m);
        println!(
            "journal: {messages:>7} messages received: index {:>6.1} MB = {:>5.1} bytes/message, {:.2} heap blocks/message",
            heap as f64 / 1e6,
            heap as f64 / messages as f64,
            blocks as f64 / messages as f64,
        );
        rt.block_on(async { drop(j) });
    }
    for m in [sent / 4, sent / 2, sent] {
        let dir = tempfile::tempdir().unwrap();
        write_sent(dir.path(), m);
        let (before, blocks) = (counting::live(), counting::blocks());
        let spares = Arc::new(Spares::open(&dir.path().join(".spare")).unwrap());
        let s = rt.block_on(async { SentStore::open(dir.path(), spares).unwrap() });
        let (heap, blocks) = (counting::live() - before, counting::blocks() - blocks);
        println!(
            "sent/: {m:>7} documents sent: store {:>6.1} MB = {:>5.1} bytes/document, {:.2} heap blocks/document",
            heap as f64 / 1e6,
            heap as f64 / m as f64,
            blocks as f64 / m as f64,
        );
        rt.block_on(s.close());
    }
}
