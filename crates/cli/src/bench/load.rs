//! The bench as the agencies' document systems: it writes documents and
//! renames them into senders' `outbox/` folders (the folder contract),
//! takes what arrives in `inbox/` and `status-inbox/` away (as a document
//! system does; the adapter's journal remembers what it delivered), and
//! times every delivery.
//!
//! Times come from the files themselves: the `ctime` of the inode, which a
//! rename sets, read with `fstat` on the file the bench renamed into the
//! outbox, and with `stat` on the file the adapter renamed into an inbox.
//! Both ends are read from the same kernel clock (which stamps files to the
//! tick, 4 ms at 250 Hz), and the bench's polling interval does not enter
//! the figures.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use docaxis_adapter::folders;
use docaxis_edxml::{organization, Code, Draft, EdDate, EdTimestamp, Message};

use crate::demo::scenario::{pdf_like, SEEDS};
use crate::demo::world::Installed;

/// The attachment every document carries: a PDF-like annex of this size.
pub const ATTACHMENT_BYTES: usize = 2 * 1024;

/// How many recipients each document of a pass has.
#[derive(Debug, Clone, Copy)]
pub enum Fanout {
    /// Every document to `k` recipients.
    Fixed(usize),
    /// `docs` documents with `deliveries` deliveries in all: each to
    /// `deliveries / docs` recipients, rounded down or up, spread evenly.
    Spread { docs: usize, deliveries: usize },
}

impl Fanout {
    /// Recipients of the pass's document `i`.
    pub fn of(&self, i: usize) -> usize {
        match *self {
            Fanout::Fixed(k) => k,
            Fanout::Spread { docs, deliveries } => {
                let d = docs.max(1);
                // Bresenham: the deliveries of documents 0..=i are
                // floor((i+1) * deliveries / docs).
                (i + 1) * deliveries / d - i * deliveries / d
            }
        }
    }
}

/// How documents are dropped.
#[derive(Debug, Clone, Copy)]
pub enum Pacing {
    /// As fast as the adapters take them: at most this many documents
    /// dropped and not yet answered (01 from every recipient) at a time.
    Window(usize),
    /// At this many documents per second, whatever happens to them.
    Rate(f64),
}

/// What one pass sends.
#[derive(Debug, Clone)]
pub struct Load {
    /// The notation of its documents (`BENCH`, `WARMUP`): in every file
    /// name the adapters write about them.
    pub notation: &'static str,
    /// The number of its first document (numbers are unique in a run).
    pub first_number: u64,
    /// How many documents, at most.
    pub docs: usize,
    /// Stop dropping after this long (a sustained run), if given.
    pub duration: Option<Duration>,
    /// How documents are dropped.
    pub pacing: Pacing,
    /// How many recipients each has.
    pub fanout: Fanout,
}

/// One document in flight.
#[derive(Debug, Clone)]
struct Doc {
    sender: usize,
    recipients: usize,
    dropped: SystemTime,
    /// Bit `j`: recipient `sender + 1 + j` has it in its inbox.
    inbox: u64,
    /// Bit `j`: the sender heard 01 from recipient `sender + 1 + j`.
    arrived: u64,
    last: SystemTime,
}

/// What the document systems saw, for one pass.
#[derive(Debug, Default)]
pub struct Book {
    notation: &'static str,
    docs: HashMap<u64, Doc>,
    /// Documents dropped.
    pub dropped: usize,
    /// Deliveries those documents are addressed to.
    pub deliveries: usize,
    /// Inbox files taken in (first copies only).
    pub inbox: usize,
    /// 01s taken in at the senders (first copies only).
    pub arrived: usize,
    /// Documents in every recipient's inbox with every 01 back.
    pub complete: usize,
    /// Per delivery, rename into the outbox → the inbox file (µs).
    pub to_inbox_us: Vec<u64>,
    /// Per delivery, rename into the outbox → the 01 at the sender (µs).
    pub to_01_us: Vec<u64>,
    /// Per document, rename → the last of its 01s (µs).
    pub to_complete_us: Vec<u64>,
    /// First rename into an outbox.
    pub first_drop: Option<SystemTime>,
    /// Last rename into an outbox.
    pub last_drop: Option<SystemTime>,
    /// The last inbox file.
    pub last_inbox: Option<SystemTime>,
    /// The last 01.
    pub last_01: Option<SystemTime>,
    /// Files that came twice, or to an agency they were not addressed to.
    pub problems: Vec<String>,
    /// Bytes of the documents dropped.
    pub bytes: u64,
}

impl Book {
    /// An empty book for documents of `notation`.
    pub fn new(notation: &'static str) -> Book {
        Book {
            notation,
            ..Book::default()
        }
    }

    /// Documents dropped and not yet answered by every recipient.
    pub fn in_flight(&self) -> usize {
        self.dropped - self.complete
    }

    /// Deliveries still missing (inbox files, 01s), by document number.
    pub fn missing(&self) -> Vec<String> {
        let mut v: Vec<(u64, String)> = self
            .docs
            .iter()
            .filter(|(_, d)| {
                d.arrived.count_ones() as usize != d.recipients
                    || d.inbox.count_ones() as usize != d.recipients
            })
            .map(|(n, d)| {
                (
                    *n,
                    format!(
                        "document {n} ({} recipients): {} in inboxes, {} 01s back",
                        d.recipients,
                        d.inbox.count_ones(),
                        d.arrived.count_ones()
                    ),
                )
            })
            .collect();
        v.sort();
        v.into_iter().map(|(_, s)| s).collect()
    }
}

/// The book of the current pass, shared by the dropper, the collector and
/// the bench's main loop.
pub type Shared = Arc<Mutex<Book>>;

/// Locks the book (a panicked thread's book is still worth reading).
pub fn lock(b: &Shared) -> MutexGuard<'_, Book> {
    b.lock().unwrap_or_else(|e| e.into_inner())
}

/// The fields of a file name the adapter writes about a document:
/// `<sender>_<date>_<number>-<notation>.<digest12>[.<code>.<from>].xml`.
#[derive(Debug, PartialEq, Eq)]
struct FileName<'a> {
    sender: &'a str,
    number: u64,
    notation: &'a str,
    /// For a status: its code and who sent it.
    status: Option<(&'a str, &'a str)>,
}

fn file_name(name: &str) -> Option<FileName<'_>> {
    let stem = name.strip_suffix(".xml")?;
    let mut parts = stem.splitn(3, '_');
    let (sender, _date, rest) = (parts.next()?, parts.next()?, parts.next()?);
    let (number, rest) = rest.split_once('-')?;
    let mut dots = rest.splitn(4, '.');
    let notation = dots.next()?;
    let _digest = dots.next()?;
    let status = match (dots.next(), dots.next()) {
        (Some(code), Some(from)) => Some((code, from)),
        (None, None) => None,
        _ => return None,
    };
    Some(FileName {
        sender,
        number: number.parse().ok()?,
        notation,
        status,
    })
}

/// Whether `name`, a file in an inbox, a status-inbox or `sent/`, is about
/// one of the documents `numbers` of `notation`.
pub fn about(name: &str, notation: &str, numbers: &std::ops::Range<u64>) -> bool {
    let xml = match name.strip_suffix(".json") {
        Some(stem) => format!("{stem}.xml"),
        None => name.to_owned(),
    };
    file_name(&xml).is_some_and(|f| f.notation == notation && numbers.contains(&f.number))
}

/// The ctime of a file: when it was last renamed (or written).
fn ctime(m: &std::fs::Metadata) -> SystemTime {
    UNIX_EPOCH
        + Duration::new(
            m.ctime().max(0) as u64,
            m.ctime_nsec().clamp(0, 999_999_999) as u32,
        )
}

fn micros(from: SystemTime, to: SystemTime) -> u64 {
    to.duration_since(from).map_or(0, |d| d.as_micros() as u64)
}

/// Builds and drops the documents of `load` into the senders' outboxes,
/// from `staging` (a folder on the same file system). Returns when all are
/// dropped, the duration is over, or `stop` is set.
pub fn drop_documents(
    load: &Load,
    agencies: &[Installed],
    staging: &Path,
    book: &Shared,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    let n = agencies.len();
    let today = EdDate::new(EdTimestamp::now().local().date());
    let annex = pdf_like(ATTACHMENT_BYTES);
    let outboxes: Vec<PathBuf> = agencies.iter().map(|a| a.folder(folders::OUTBOX)).collect();
    let start = Instant::now();
    for i in 0..load.docs {
        if stop.load(Ordering::Relaxed) || load.duration.is_some_and(|d| start.elapsed() >= d) {
            break;
        }
        match load.pacing {
            Pacing::Rate(rate) => {
                let due = Duration::from_secs_f64(i as f64 / rate);
                if let Some(wait) = due.checked_sub(start.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
            Pacing::Window(w) => {
                while lock(book).in_flight() >= w {
                    if stop.load(Ordering::Relaxed) {
                        return Ok(());
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
        }
        let number = load.first_number + i as u64;
        let sender = i % n;
        let k = load.fanout.of(i);
        let to = (1..=k)
            .map(|j| {
                let a = &agencies[(sender + j) % n];
                organization(a.organ_id.clone(), a.name.clone())
            })
            .collect();
        let a = &agencies[sender];
        let mut draft = Draft::new(
            organization(a.organ_id.clone(), a.name.clone()),
            to,
            Code {
                code_number: number.to_string(),
                code_notation: load.notation.into(),
            },
            today,
            SEEDS[i % SEEDS.len()].1.to_owned(),
        );
        draft.sent_at = EdTimestamp::now();
        draft.attach("phu-luc.pdf", annex.clone());
        let bytes = docaxis_edxml::serialize(&Message::Document(Box::new(draft.build())));
        // The folder contract: written elsewhere, renamed in. The rename
        // sets the inode's ctime: the document's start time, read back
        // with fstat on the still-open file.
        let name = format!("{}-{number}.xml", load.notation.to_ascii_lowercase());
        let tmp = staging.join(&name);
        let mut f =
            std::fs::File::create(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
        f.write_all(&bytes)?;
        std::fs::rename(&tmp, outboxes[sender].join(&name))
            .with_context(|| format!("renaming {name} into the outbox of {}", a.organ_id))?;
        let dropped = ctime(&f.metadata()?);
        let mut b = lock(book);
        b.docs.insert(
            number,
            Doc {
                sender,
                recipients: k,
                dropped,
                inbox: 0,
                arrived: 0,
                last: dropped,
            },
        );
        b.dropped += 1;
        b.deliveries += k;
        b.bytes += bytes.len() as u64;
        b.first_drop.get_or_insert(dropped);
        b.last_drop = Some(dropped);
    }
    Ok(())
}

/// Takes what arrived in every inbox and status-inbox into `book`, every
/// `every`, until `stop` is set.
///
/// Files are taken away by a thread of their own: a rename waits for the
/// file system, which the adapters' fsyncs keep busy, and the sweep must
/// not fall behind the deliveries it counts (the pass ends, and the window
/// of a backlog moves, when the sweep has seen them). A file waiting to be
/// taken is skipped; one that appears again under the same name once taken
/// is a second delivery, and booked as such.
///
/// Taken files are moved into the agency's `taken/` folder (its document
/// system's archive), not deleted: on ext4 without a journal, as on this
/// project's benchmark machines, every inode freed makes each file created
/// in its block group for the next 5-300 s scan past it, so a document
/// system deleting files by the thousand would bill the adapters up to a
/// millisecond of kernel CPU per inbox file (see `fsio::Spares` in the
/// adapter). The work folder, `taken/` with it, goes at the end of the run.
pub fn collect(agencies: &[Installed], book: &Shared, stop: &AtomicBool, every: Duration) {
    let index: HashMap<String, usize> = agencies
        .iter()
        .enumerate()
        .map(|(i, a)| (a.organ_id.as_str().to_owned(), i))
        .collect();
    let dirs: Vec<(usize, bool, PathBuf)> = agencies
        .iter()
        .enumerate()
        .flat_map(|(i, a)| {
            [
                (i, false, a.folder(folders::INBOX)),
                (i, true, a.folder(folders::STATUS_INBOX)),
            ]
        })
        .collect();
    let pending: Mutex<HashSet<PathBuf>> = Mutex::new(HashSet::new());
    let (remove, removals) = std::sync::mpsc::channel::<PathBuf>();
    std::thread::scope(|s| {
        let pending_j = &pending;
        s.spawn(move || {
            for path in removals {
                set_aside(&path);
                pending_j
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&path);
            }
        });
        let sweeper = Sweeper {
            index: &index,
            n: agencies.len(),
            book,
            pending: &pending,
            remove,
        };
        loop {
            // Read `stop` before the sweep, so the last sweep sees
            // everything that was there when the caller stopped.
            let last = stop.load(Ordering::Relaxed);
            for (agency, statuses, dir) in &dirs {
                sweeper.sweep(*agency, *statuses, dir);
            }
            if last {
                return; // drops the sender: the remover finishes and ends
            }
            std::thread::sleep(every);
        }
    });
}

struct Sweeper<'a> {
    index: &'a HashMap<String, usize>,
    n: usize,
    book: &'a Shared,
    pending: &'a Mutex<HashSet<PathBuf>>,
    remove: std::sync::mpsc::Sender<PathBuf>,
}

impl Sweeper<'_> {
    /// One look at one folder of agency `here`.
    fn sweep(&self, here: usize, statuses: bool, dir: &Path) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.filter_map(Result::ok) {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue; // the adapter's temporary and staging files
            }
            let path = e.path();
            if self
                .pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(&path)
            {
                continue;
            }
            let Ok(meta) = std::fs::metadata(&path) else {
                continue; // removed meanwhile
            };
            if !meta.is_file() {
                continue;
            }
            let at = ctime(&meta);
            let verdict = take(
                &mut lock(self.book),
                here,
                statuses,
                &name,
                at,
                self.index,
                self.n,
            );
            match verdict {
                Take::Taken => {
                    self.pending
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(path.clone());
                    let _ = self.remove.send(path);
                }
                // Dropped a moment ago, not in the book yet: next sweep.
                Take::NotYet => {}
                // Another pass's: not this pass's business.
                Take::Foreign => {}
            }
        }
    }
}

enum Take {
    Taken,
    NotYet,
    Foreign,
}

/// Moves `<data_dir>/<folder>/<name>` to `<data_dir>/taken/<name>`
/// (see [`collect`]); deletes it if that fails.
fn set_aside(path: &Path) {
    let taken = path
        .parent()
        .and_then(Path::parent)
        .map(|data_dir| data_dir.join("taken"));
    let moved = match (taken, path.file_name()) {
        (Some(dir), Some(name)) => std::fs::rename(path, dir.join(name))
            .or_else(|_| {
                std::fs::create_dir_all(&dir)?;
                std::fs::rename(path, dir.join(name))
            })
            .is_ok(),
        _ => false,
    };
    if !moved {
        let _ = std::fs::remove_file(path);
    }
}

/// Books one file; duplicates and misroutes become problems.
fn take(
    b: &mut Book,
    here: usize,
    statuses: bool,
    name: &str,
    at: SystemTime,
    index: &HashMap<String, usize>,
    n: usize,
) -> Take {
    let Some(f) = file_name(name) else {
        b.problems
            .push(format!("unexpected file {name} at agency {here}"));
        return Take::Taken;
    };
    if f.notation != b.notation {
        return Take::Foreign;
    }
    let notation = b.notation;
    let Some(doc) = b.docs.get_mut(&f.number) else {
        return Take::NotYet;
    };
    let sender_ok = index.get(f.sender) == Some(&doc.sender);
    // Which recipient of the document this file is about.
    let recipient = match (statuses, f.status) {
        (false, None) => Some(here),
        (true, Some(("01", from))) if here == doc.sender => index.get(from).copied(),
        _ => None,
    };
    let slot = recipient
        .map(|r| (r + n - doc.sender) % n)
        .filter(|off| sender_ok && *off >= 1 && *off <= doc.recipients)
        .map(|off| 1u64 << (off - 1));
    let Some(bit) = slot else {
        b.problems.push(format!(
            "{name} at agency {here}: not a delivery of {notation} document {} (misrouted or unexpected)",
            f.number
        ));
        return Take::Taken;
    };
    let mask = if statuses {
        &mut doc.arrived
    } else {
        &mut doc.inbox
    };
    if *mask & bit != 0 {
        let what = if statuses { "01" } else { "inbox file" };
        b.problems
            .push(format!("{name}: {what} delivered twice at agency {here}"));
        return Take::Taken;
    }
    *mask |= bit;
    doc.last = doc.last.max(at);
    let latency = micros(doc.dropped, at);
    let full = (1u64 << doc.recipients) - 1;
    let complete = doc.inbox == full && doc.arrived == full;
    let done_at = doc.last;
    let dropped = doc.dropped;
    if statuses {
        b.arrived += 1;
        b.to_01_us.push(latency);
        b.last_01 = Some(b.last_01.map_or(at, |t| t.max(at)));
    } else {
        b.inbox += 1;
        b.to_inbox_us.push(latency);
        b.last_inbox = Some(b.last_inbox.map_or(at, |t| t.max(at)));
    }
    if complete {
        b.complete += 1;
        b.to_complete_us.push(micros(dropped, done_at));
    }
    Take::Taken
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_of_documents_and_statuses() {
        assert_eq!(
            file_name("000.00.00.G22_2026-11-22_123-BENCH.abcdef012345.xml"),
            Some(FileName {
                sender: "000.00.00.G22",
                number: 123,
                notation: "BENCH",
                status: None
            })
        );
        assert_eq!(
            file_name("000.00.00.G22_2026-11-22_7-BENCH.abcdef012345.01.000.00.18.G12.xml"),
            Some(FileName {
                sender: "000.00.00.G22",
                number: 7,
                notation: "BENCH",
                status: Some(("01", "000.00.18.G12"))
            })
        );
        assert_eq!(file_name("notes.txt"), None);
        let pass = 5..8;
        assert!(about("A_d_7-BENCH.abc.json", "BENCH", &pass));
        assert!(about("A_d_5-BENCH.abc.01.B.xml", "BENCH", &pass));
        assert!(!about("A_d_8-BENCH.abc.json", "BENCH", &pass));
        assert!(!about("A_d_6-WARMUP.abc.xml", "BENCH", &pass));
        assert_eq!(file_name("a_b_c.xml"), None);
    }

    #[test]
    fn spread_fanout_adds_up_to_the_deliveries() {
        let f = Fanout::Spread {
            docs: 172_790,
            deliveries: 620_830,
        };
        let total: usize = (0..172_790).map(|i| f.of(i)).sum();
        assert_eq!(total, 620_830);
        assert!((0..172_790).all(|i| (3..=4).contains(&f.of(i))));
        assert_eq!(Fanout::Fixed(3).of(5), 3);
    }

    #[test]
    fn every_delivery_is_booked_once_and_duplicates_are_problems() {
        let index: HashMap<String, usize> = ["A", "B", "C"]
            .iter()
            .enumerate()
            .map(|(i, a)| (a.to_string(), i))
            .collect();
        let mut b = Book::new("BENCH");
        let t0 = UNIX_EPOCH + Duration::from_secs(1_000);
        b.docs.insert(
            5,
            Doc {
                sender: 0,
                recipients: 2,
                dropped: t0,
                inbox: 0,
                arrived: 0,
                last: t0,
            },
        );
        b.dropped = 1;
        let ms = |m| t0 + Duration::from_millis(m);
        let take = |b: &mut Book, here, st, name: &str, at| take(b, here, st, name, at, &index, 3);
        assert!(matches!(
            take(&mut b, 1, false, "A_d_5-BENCH.x.xml", ms(10)),
            Take::Taken
        ));
        assert!(matches!(
            take(&mut b, 2, false, "A_d_5-BENCH.x.xml", ms(12)),
            Take::Taken
        ));
        assert!(matches!(
            take(&mut b, 0, true, "A_d_5-BENCH.x.01.B.xml", ms(20)),
            Take::Taken
        ));
        assert_eq!(b.complete, 0);
        assert!(matches!(
            take(&mut b, 0, true, "A_d_5-BENCH.x.01.C.xml", ms(25)),
            Take::Taken
        ));
        assert_eq!((b.inbox, b.arrived, b.complete), (2, 2, 1));
        assert_eq!(b.to_complete_us, vec![25_000]);
        assert_eq!(b.to_inbox_us, vec![10_000, 12_000]);
        assert!(b.problems.is_empty());
        // Twice, and to someone it was not addressed to (A is the sender).
        take(&mut b, 1, false, "A_d_5-BENCH.y.xml", ms(30));
        take(&mut b, 0, false, "A_d_5-BENCH.x.xml", ms(30));
        assert_eq!(b.problems.len(), 2, "{:?}", b.problems);
        assert_eq!(b.inbox, 2);
        // Not dropped yet, or another pass's.
        assert!(matches!(
            take(&mut b, 1, false, "A_d_6-BENCH.x.xml", ms(1)),
            Take::NotYet
        ));
        assert!(matches!(
            take(&mut b, 1, false, "A_d_6-WARMUP.x.xml", ms(1)),
            Take::Foreign
        ));
        assert!(b.missing().is_empty());
    }
}
