//! What a fault case sends, and the end-of-run comparison of every outbox
//! with every inbox, every sender's records and the tracker's figures.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::agencies::{docaxis_bin, files, sent_records, statuses_from, TestAxis, AGENCIES};

/// One document of the workload.
pub struct Planned {
    /// Sending agency.
    pub sender: &'static str,
    /// Its recipients.
    pub recipients: Vec<&'static str>,
    /// Its file name in the sender's outbox.
    pub name: String,
    /// Its DocumentId.
    pub document_id: String,
    /// The unsigned edXML the document system drops.
    pub bytes: Vec<u8>,
}

/// The workload: the sending agencies in turn, each document to every
/// other agency.
pub struct Plan {
    /// The documents, in the order they are dropped.
    pub docs: Vec<Planned>,
}

/// The DocumentId in edXML bytes (unsigned, or signed as the inbox holds it).
pub fn document_id(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let tag = "<edXML:DocumentId>";
    let start = text.find(tag)? + tag.len();
    let end = text[start..].find('<')? + start;
    Some(text[start..end].to_owned())
}

impl Plan {
    /// `n` documents from `senders` (indices in [`AGENCIES`]) in turn,
    /// numbered so that every DocumentId is distinct.
    pub fn new(n: usize, senders: &[usize]) -> Plan {
        let docs = (0..n)
            .map(|i| {
                let sender = AGENCIES[senders[i % senders.len()]].0;
                let recipients: Vec<&'static str> = AGENCIES
                    .iter()
                    .map(|(a, _)| *a)
                    .filter(|a| *a != sender)
                    .collect();
                let bytes = TestAxis::document(
                    sender,
                    &recipients,
                    i,
                    &format!("Văn bản số {i} của phép thử sự cố."),
                );
                Planned {
                    sender,
                    recipients,
                    name: format!("fault{i:05}.xml"),
                    document_id: document_id(&bytes).expect("a DocumentId"),
                    bytes,
                }
            })
            .collect();
        Plan { docs }
    }

    /// Deliveries expected: one per (document, recipient).
    pub fn deliveries(&self) -> usize {
        self.docs.iter().map(|d| d.recipients.len()).sum()
    }
}

/// The tracker's totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrackerFigures {
    /// Distinct documents.
    pub documents: u64,
    /// Deliveries expected.
    pub expected: u64,
    /// Deliveries arrived (01).
    pub arrived: u64,
}

/// The tracker's totals from its database (`docaxis stats`, read-only, so
/// it works while the tracker runs); `None` before it has a database.
pub fn tracker_figures(db: &Path) -> Option<TrackerFigures> {
    let out = Command::new(docaxis_bin())
        .args(["--format", "json", "stats", "--db"])
        .arg(db)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let f = &v["rows"][0]["figures"];
    Some(TrackerFigures {
        documents: f["documents"].as_u64()?,
        expected: f["expected"].as_u64()?,
        arrived: f["arrived"].as_u64()?,
    })
}

/// How many times each document was logged as received by `log` (an
/// adapter's stderr, kept across restarts). The inbox file of a document
/// is named after its DocumentId and digest, so a second delivery of the
/// same bytes would overwrite it unseen; the log line, written once the
/// document is in the inbox, does show it.
fn received_in_log(log: &str) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for line in log.lines() {
        // Exactly the "received" event (`received document_id=… from=…`),
        // not "received twice at once; delivered once", which is the
        // journal refusing a second copy.
        if let Some(rest) = line.split(": received document_id=").nth(1) {
            let id = rest.split_whitespace().next().unwrap_or_default();
            *seen.entry(id.to_owned()).or_insert(0) += 1;
        }
    }
    seen
}

/// What is where, at one moment.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Documents of the workload.
    pub documents: usize,
    /// Deliveries expected.
    pub expected: usize,
    /// Expected deliveries found in their recipient's inbox.
    pub delivered: usize,
    /// Deliveries beyond the first: extra inbox files, or a document
    /// received (logged) twice.
    pub duplicated: usize,
    /// Inbox files that are no delivery of the workload.
    pub unexpected: usize,
    /// Expected deliveries missing from the inbox.
    pub lost: usize,
    /// Deliveries whose 01 is in the sender's record.
    pub answered: usize,
    /// Files left in the outboxes.
    pub outbox_left: usize,
    /// Files in the senders' `rejected/`.
    pub rejected: usize,
    /// The tracker's totals.
    pub tracker: Option<TrackerFigures>,
    /// A few missing deliveries, for the report.
    pub missing: Vec<String>,
    /// A few duplicated deliveries, for the report.
    pub duplicates: Vec<String>,
}

impl Tally {
    /// The tracker counts exactly the workload, every delivery arrived.
    pub fn tracker_exact(&self) -> bool {
        self.tracker
            == Some(TrackerFigures {
                documents: self.documents as u64,
                expected: self.expected as u64,
                arrived: self.expected as u64,
            })
    }

    /// Everything arrived, answered and counted.
    pub fn complete(&self) -> bool {
        self.delivered == self.expected
            && self.answered == self.expected
            && self.outbox_left == 0
            && self.tracker_exact()
    }
}

/// Counts everything against `plan`. `db`: the tracker's database.
pub fn tally(t: &TestAxis, plan: &Plan, db: &Path) -> Tally {
    let mut tally = Tally {
        documents: plan.docs.len(),
        expected: plan.deliveries(),
        tracker: tracker_figures(db),
        ..Tally::default()
    };
    // Per recipient: DocumentId -> inbox files holding it.
    let mut inboxes: BTreeMap<&str, BTreeMap<String, usize>> = BTreeMap::new();
    let mut logged: BTreeMap<&str, BTreeMap<String, usize>> = BTreeMap::new();
    for (agency, _) in AGENCIES {
        let mut ids = BTreeMap::new();
        for f in files(&t.data_dir(agency).join("inbox")) {
            // A file being renamed in may vanish between listing and reading.
            if let Some(id) = std::fs::read(&f).ok().as_deref().and_then(document_id) {
                *ids.entry(id).or_insert(0) += 1;
            }
        }
        inboxes.insert(agency, ids);
        let log = std::fs::read_to_string(t.path().join(format!("{agency}.log")));
        logged.insert(agency, received_in_log(&log.unwrap_or_default()));
        tally.outbox_left += files(&t.data_dir(agency).join("outbox")).len();
        tally.rejected += files(&t.data_dir(agency).join("rejected")).len();
    }
    let mut records: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    for (agency, _) in AGENCIES {
        for r in sent_records(t, agency) {
            if let Some(id) = r["document_id"].as_str() {
                records.insert(id.to_owned(), r.clone());
            }
        }
    }
    let mut planned: BTreeMap<(&str, &str), ()> = BTreeMap::new();
    for d in &plan.docs {
        let record = records.get(&d.document_id);
        for r in &d.recipients {
            planned.insert((r, &d.document_id), ());
            let files = inboxes[r].get(&d.document_id).copied().unwrap_or(0);
            let logged = logged[r].get(&d.document_id).copied().unwrap_or(0);
            if files == 0 {
                tally.lost += 1;
                if tally.missing.len() < 10 {
                    tally.missing.push(format!("{} -> {r}", d.document_id));
                }
            } else {
                tally.delivered += 1;
            }
            let extra = files.max(logged).saturating_sub(1);
            tally.duplicated += extra;
            if extra > 0 && tally.duplicates.len() < 10 {
                tally.duplicates.push(format!(
                    "{} -> {r}: {files} files, received {logged} times",
                    d.document_id
                ));
            }
            let answered = record.is_some_and(|rec| {
                statuses_from(rec, r)
                    .iter()
                    .any(|s| s["code"].as_str() == Some("01"))
            });
            if answered {
                tally.answered += 1;
            }
        }
    }
    for (agency, ids) in &inboxes {
        for (id, n) in ids {
            if !planned.contains_key(&(*agency, id.as_str())) {
                tally.unexpected += n;
            }
        }
    }
    tally
}

/// One line of the fault table.
#[derive(Debug, Clone)]
pub struct Row {
    /// The fault.
    pub case: String,
    /// The final count.
    pub tally: Tally,
    /// Processes that exited by themselves (and were restarted, as
    /// systemd's `Restart=on-failure` would).
    pub self_exits: Vec<String>,
    /// From the first document dropped to the final count.
    pub elapsed: Duration,
    /// From the end of the fault script (the fault repaired, every
    /// document dropped) until everything had arrived and was counted.
    pub settled: Duration,
    /// What the fault did (kills, pauses...).
    pub note: String,
}

/// The table's header.
pub const HEADER: &str = "| case | documents | expected deliveries | delivered | duplicated | lost | 01 in records | tracker (docs/expected/arrived) | tracker exact | self-exits | time | settled after the fault | what happened |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|";

impl std::fmt::Display for Row {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = &self.tally;
        let tracker = t.tracker.map_or("-".into(), |x| {
            format!("{}/{}/{}", x.documents, x.expected, x.arrived)
        });
        write!(
            f,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0} s | {:.0} s | {} |",
            self.case,
            t.documents,
            t.expected,
            t.delivered,
            t.duplicated + t.unexpected,
            t.lost,
            t.answered,
            tracker,
            if t.tracker_exact() { "yes" } else { "NO" },
            self.self_exits.len(),
            self.elapsed.as_secs_f64(),
            self.settled.as_secs_f64(),
            self.note
        )
    }
}

impl Row {
    /// Prints the row under the header (and appends it to the file named
    /// by `DOCAXIS_FAULT_TABLE`, to collect the table of a whole run).
    pub fn report(&self) {
        println!("{HEADER}\n{self}");
        if !self.self_exits.is_empty() {
            println!(
                "[{}] exited by themselves: {:?}",
                self.case, self.self_exits
            );
        }
        if let Some(path) = std::env::var_os("DOCAXIS_FAULT_TABLE") {
            use std::io::Write;
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
            {
                let _ = writeln!(f, "{self}");
            }
        }
    }

    /// The case's verdict: nothing lost, nothing twice, every 01 recorded,
    /// the tracker exact.
    pub fn assert_ok(&self) {
        let t = &self.tally;
        assert_eq!(
            t.lost, 0,
            "[{}] deliveries lost: {:?}",
            self.case, t.missing
        );
        assert_eq!(
            t.duplicated + t.unexpected,
            0,
            "[{}] deliveries duplicated: {:?}",
            self.case,
            t.duplicates
        );
        assert_eq!(t.delivered, t.expected, "[{}] deliveries", self.case);
        assert_eq!(t.answered, t.expected, "[{}] 01 in records", self.case);
        assert_eq!(t.outbox_left, 0, "[{}] outbox not emptied", self.case);
        assert_eq!(t.rejected, 0, "[{}] documents rejected", self.case);
        assert!(
            t.tracker_exact(),
            "[{}] tracker figures {:?}, expected {} documents, {} deliveries all arrived",
            self.case,
            t.tracker,
            t.documents,
            t.expected
        );
    }
}
