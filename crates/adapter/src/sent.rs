//! The sender's records: `sent/<stem>.xml` (the signed document as
//! published) and `sent/<stem>.json` (when, to whom, and every status heard
//! back).
//!
//! A log makes them durable, not the files themselves. Every change of a
//! record is one line appended to `sent/.records-<n>.jsonl` — the whole
//! record after the change and, in a document's first line, its signed
//! bytes — and one task commits the lines of every change waiting at that
//! moment with one fsync, as the receive journal does ([`crate::journal`]).
//! A change is acknowledged (its call returns) only once its line is
//! durable. The files document systems read are materialised from the log
//! (temporary file, rename; no fsync of their own):
//!
//! - `<stem>.xml` in the commit of the document's first line, before it is
//!   first published;
//! - `<stem>.json` before the call returns when a status is recorded (a
//!   status is in the record before it appears in `status-inbox/`), and
//!   within [`MATERIALISE_AFTER`] of any other change (the record created,
//!   confirmed by the axis). A document whose 01 comes back quickly has its
//!   `.json` written once, not three times: creating a file (and freeing
//!   the one it replaces) is the costliest step of recording a document.
//!
//! A segment of the log that reaches [`SEGMENT_BYTES`] is closed and a new
//! one opened. Once the kernel has written a closed segment's files back on
//! its own ([`CHECKPOINT_AFTER`]), they are fsynced — cheap by then — and
//! the segment is deleted. On start-up every segment left is replayed: the
//! last state of each record it holds is written and fsynced, then the
//! segments are deleted. A crash at any instant therefore loses no
//! acknowledged change, and a torn last line is a change never
//! acknowledged.
//!
//! Memory: a record is held only while its `.json` is older than it
//! (about [`MATERIALISE_AFTER`] of changes); otherwise it is read from
//! its file. Changes of one document are serialised by its lock (one of
//! [`STRIPES`]), held from reading the record to the change's commit.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::hash::{Hash, Hasher};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::fsio;

/// One status heard from one recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusSeen {
    /// Two-digit code (`01`, `02`, ...).
    pub code: String,
    /// Its meaning (`arrived`, `refused`, ...).
    pub label: String,
    /// The status message's own timestamp (`yyyy/MM/dd HH:mm:ss`).
    pub at: String,
    /// The reason, for a refusal.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

/// What happened to one recipient's copy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipientState {
    /// The axis could not route to this recipient (unknown agency).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unroutable: bool,
    /// Statuses heard, in arrival order.
    #[serde(default)]
    pub statuses: Vec<StatusSeen>,
}

/// The record of one sent document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentRecord {
    /// DocumentId.
    pub document_id: String,
    /// Message id on the axis (hex SHA-256 of the signed bytes).
    pub message_id: String,
    /// When the axis confirmed it (RFC 3339); `None` while it is signed
    /// but not yet confirmed (the adapter publishes it again after a crash).
    pub sent_at: Option<String>,
    /// The outbox file it came from.
    pub source: String,
    /// Per recipient.
    pub recipients: BTreeMap<String, RecipientState>,
}

/// Number of per-document locks.
pub const STRIPES: usize = 256;

/// A change other than a status reaches `<stem>.json` within this time.
pub const MATERIALISE_AFTER: Duration = Duration::from_secs(1);

/// A log segment is closed at this size (the signed bytes make most of it).
pub const SEGMENT_BYTES: u64 = 32 << 20;

/// A closed segment is checkpointed this long after it was closed: by then
/// the kernel has written its files back (`vm.dirty_expire_centisecs`, 30 s
/// by default, plus a writeback period), so their fsyncs find nothing left
/// to write.
pub const CHECKPOINT_AFTER: Duration = Duration::from_secs(40);

/// More closed segments than this waiting: checkpoint now, whatever it costs,
/// so the log stays bounded on disk.
const MAX_CLOSED: usize = 4;

/// How often the committer looks for records due to be materialised and
/// segments due for a checkpoint.
const TICK: Duration = Duration::from_millis(100);

/// Largest number of changes in one group commit.
const MAX_BATCH: usize = 512;

/// Log segment file names: `.records-<n>.jsonl` (hidden: document systems
/// scanning `sent/` never see it).
const SEGMENT_PREFIX: &str = ".records-";
const SEGMENT_SUFFIX: &str = ".jsonl";

/// One line of the log: a record as it is after a change.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Line {
    stem: String,
    record: SentRecord,
    /// The signed document, in the record's first line only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signed: Option<String>,
}

/// What the store knows of one document. There is one for every document
/// ever sent (it is what tells a DocumentId already used, and where its
/// files are), so it is small: 32 bytes, the record itself only while a
/// change is pending (boxed: most of the time there is none, and a
/// `SentRecord` in place would take 120 bytes).
#[derive(Debug)]
struct Slot {
    stem: Box<str>,
    /// Changes committed so far (tells a materialisation whether a newer
    /// change came in while it wrote the file).
    version: u64,
    /// The record as last committed, while `<stem>.json` is older than it;
    /// `None`: the file is up to date.
    pending: Option<Box<SentRecord>>,
}

#[derive(Debug, Default)]
struct State {
    /// DocumentId → slot.
    slots: HashMap<Box<str>, Slot>,
    /// DocumentIds whose `.json` is due, oldest first, with when.
    due: VecDeque<(Instant, String)>,
}

/// The segment being appended to.
#[derive(Debug)]
struct Segment {
    file: File,
    number: u64,
    bytes: u64,
    /// Documents with a line in it.
    documents: HashSet<String>,
    /// A failed append may have left a torn line that could not be cut
    /// off: nothing more may follow it; the next commit opens a new
    /// segment.
    broken: bool,
}

/// A segment closed, waiting for its checkpoint.
#[derive(Debug)]
struct Closed {
    number: u64,
    documents: HashSet<String>,
    at: Instant,
}

#[derive(Debug)]
struct Shared {
    dir: PathBuf,
    spares: Arc<fsio::Spares>,
    state: Mutex<State>,
    segment: Mutex<Segment>,
    /// Closed segments waiting for their checkpoint, oldest first.
    closed: Mutex<VecDeque<Closed>>,
    /// Records not confirmed by the axis when the store was opened.
    unconfirmed_at_open: Vec<String>,
    /// Held while `.json` files are written: the committer and
    /// [`SentStore::flush`] never write one file at once.
    writing: Mutex<()>,
    /// [`SEGMENT_BYTES`] and [`CHECKPOINT_AFTER`] (smaller in tests).
    segment_bytes: u64,
    checkpoint_after: Duration,
}

/// One change to commit.
struct Request {
    line: Line,
    /// Materialise `<stem>.json` before replying.
    now: bool,
    reply: oneshot::Sender<io::Result<()>>,
}

/// The `sent/` folder.
#[derive(Debug)]
pub struct SentStore {
    shared: Arc<Shared>,
    stripes: Vec<tokio::sync::Mutex<()>>,
    requests: mpsc::UnboundedSender<Request>,
    committer: JoinHandle<()>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn segment_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{SEGMENT_PREFIX}{number}{SEGMENT_SUFFIX}"))
}

/// Log segments in `dir`, by number.
fn segments(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        let number = name
            .strip_prefix(SEGMENT_PREFIX)
            .and_then(|n| n.strip_suffix(SEGMENT_SUFFIX))
            .and_then(|n| n.parse().ok());
        if let Some(n) = number {
            out.push((n, dir.join(name)));
        }
    }
    out.sort();
    Ok(out)
}

fn json_bytes(record: &SentRecord) -> io::Result<Vec<u8>> {
    serde_json::to_vec_pretty(record).map_err(io::Error::other)
}

impl SentStore {
    /// Opens `dir`: replays what the log holds into the files, indexes the
    /// records, and starts the committer (on the current Tokio runtime).
    /// Files are written over spare inodes from `spares` (see
    /// [`fsio::Spares`]).
    pub fn open(dir: &Path, spares: Arc<fsio::Spares>) -> io::Result<SentStore> {
        SentStore::open_with(dir, spares, SEGMENT_BYTES, CHECKPOINT_AFTER)
    }

    fn open_with(
        dir: &Path,
        spares: Arc<fsio::Spares>,
        segment_bytes: u64,
        checkpoint_after: Duration,
    ) -> io::Result<SentStore> {
        fs::create_dir_all(dir)?;
        let replayed = replay(dir, &spares)?;
        let mut state = State::default();
        let mut unconfirmed_at_open = Vec::new();
        for entry in fs::read_dir(dir)? {
            let path = entry?.path();
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            if name.starts_with('.') || path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let record: SentRecord = serde_json::from_slice(&fs::read(&path)?)
                .map_err(|e| io::Error::other(format!("{}: {e}", path.display())))?;
            let stem = path
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            if record.sent_at.is_none() {
                unconfirmed_at_open.push(record.document_id.clone());
            }
            state.slots.insert(
                record.document_id.into(),
                Slot {
                    stem: stem.into(),
                    version: 0,
                    pending: None,
                },
            );
        }
        if replayed > 0 {
            tracing::info!(records = replayed, "sent/: records completed from the log");
        }
        let number = 0;
        let file = open_segment(dir, number)?;
        let shared = Arc::new(Shared {
            dir: dir.to_owned(),
            spares,
            state: Mutex::new(state),
            segment: Mutex::new(Segment {
                file,
                number,
                bytes: 0,
                documents: HashSet::new(),
                broken: false,
            }),
            closed: Mutex::new(VecDeque::new()),
            writing: Mutex::new(()),
            unconfirmed_at_open,
            segment_bytes,
            checkpoint_after,
        });
        let (requests, rx) = mpsc::unbounded_channel();
        let committer = tokio::spawn(committer(shared.clone(), rx));
        Ok(SentStore {
            shared,
            stripes: (0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
            requests,
            committer,
        })
    }

    /// Stops the committer once every change sent to it is committed.
    /// Changes not yet materialised stay in the log (the next
    /// [`SentStore::open`] writes them).
    pub async fn close(self) {
        drop(self.requests);
        let _ = self.committer.await;
    }

    /// Writes every `.json` older than its record now (on a clean stop: a
    /// document system reading `sent/` while the adapter is stopped sees
    /// every change).
    pub async fn flush(&self) -> io::Result<()> {
        blocking(&self.shared, |s| {
            let ids: Vec<String> = lock(&s.state)
                .slots
                .iter()
                .filter(|(_, slot)| slot.pending.is_some())
                .map(|(id, _)| id.to_string())
                .collect();
            s.materialise_ids(ids.iter())
        })
        .await
    }

    /// The lock serialising changes of `document_id`'s record.
    async fn document_lock(&self, document_id: &str) -> tokio::sync::MutexGuard<'_, ()> {
        let mut h = DefaultHasher::new();
        document_id.hash(&mut h);
        self.stripes[h.finish() as usize % STRIPES].lock().await
    }

    /// True if `document_id` was already sent.
    pub fn contains(&self, document_id: &str) -> bool {
        lock(&self.shared.state).slots.contains_key(document_id)
    }

    /// Records a document about to be published, durably, before the first
    /// publish: so that statuses which arrive very fast always find their
    /// record and a crash never makes the adapter sign a second, different
    /// version. `<stem>.xml` is in `sent/` when this returns.
    pub async fn create(&self, stem: &str, signed: &[u8], record: &SentRecord) -> io::Result<()> {
        let signed = std::str::from_utf8(signed).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "the signed document is not UTF-8",
            )
        })?;
        let _g = self.document_lock(&record.document_id).await;
        if self.contains(&record.document_id) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} is recorded already", record.document_id),
            ));
        }
        self.commit(
            Line {
                stem: stem.to_owned(),
                record: record.clone(),
                signed: Some(signed.to_owned()),
            },
            false,
        )
        .await
    }

    async fn commit(&self, line: Line, now: bool) -> io::Result<()> {
        let (reply, rx) = oneshot::channel();
        self.requests
            .send(Request { line, now, reply })
            .map_err(|_| io::Error::other("the sent/ log is closed"))?;
        rx.await
            .map_err(|_| io::Error::other("the sent/ log stopped"))?
    }

    /// The stem and record of `document_id`: from memory while its file is
    /// older, else from the file.
    fn load(&self, document_id: &str) -> io::Result<Option<(String, SentRecord)>> {
        let stem = {
            let state = lock(&self.shared.state);
            match state.slots.get(document_id) {
                None => return Ok(None),
                Some(slot) => match &slot.pending {
                    Some(record) => return Ok(Some((slot.stem.to_string(), (**record).clone()))),
                    None => slot.stem.to_string(),
                },
            }
        };
        // No change pending: the file is as new as the record (a change
        // that comes meanwhile is materialised after it, atomically).
        let bytes = fs::read(self.shared.dir.join(format!("{stem}.json")))?;
        let record = serde_json::from_slice(&bytes).map_err(io::Error::other)?;
        Ok(Some((stem, record)))
    }

    /// The record of `document_id`.
    pub fn get(&self, document_id: &str) -> io::Result<Option<SentRecord>> {
        Ok(self.load(document_id)?.map(|(_, r)| r))
    }

    /// The signed bytes of `document_id`.
    pub fn signed_bytes(&self, document_id: &str) -> io::Result<Option<Vec<u8>>> {
        let stem = lock(&self.shared.state)
            .slots
            .get(document_id)
            .map(|s| s.stem.to_string());
        match stem {
            Some(stem) => fs::read(self.shared.dir.join(format!("{stem}.xml"))).map(Some),
            None => Ok(None),
        }
    }

    /// Applies `change` to the record of `document_id` and commits it if it
    /// changed anything; `now`: materialise `.json` before returning.
    /// Returns false if no such document was sent.
    async fn change(
        &self,
        document_id: &str,
        now: bool,
        change: impl FnOnce(&mut SentRecord),
    ) -> io::Result<bool> {
        let _g = self.document_lock(document_id).await;
        let Some((stem, mut record)) = self.load(document_id)? else {
            return Ok(false);
        };
        let before = record.clone();
        change(&mut record);
        if record != before {
            self.commit(
                Line {
                    stem,
                    record,
                    signed: None,
                },
                now,
            )
            .await?;
        }
        Ok(true)
    }

    /// Marks `document_id` confirmed by the axis at `sent_at`, noting the
    /// recipients the axis could not route to.
    pub async fn confirm(
        &self,
        document_id: &str,
        sent_at: String,
        unroutable: &[String],
    ) -> io::Result<()> {
        let known = self
            .change(document_id, false, |record| {
                record.sent_at = Some(sent_at);
                for r in unroutable {
                    record.recipients.entry(r.clone()).or_default().unroutable = true;
                }
            })
            .await?;
        if !known {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no record of {document_id}"),
            ));
        }
        Ok(())
    }

    /// DocumentIds of records not yet confirmed by the axis (of those
    /// recorded when the store was opened: the ones a stop interrupted).
    pub fn unconfirmed(&self) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        for id in &self.shared.unconfirmed_at_open {
            if self.get(id)?.is_some_and(|r| r.sent_at.is_none()) {
                out.push(id.clone());
            }
        }
        Ok(out)
    }

    /// Adds a status from `recipient` to the record of `document_id`; it is
    /// in `<stem>.json` when this returns. Returns false if no such
    /// document was sent.
    pub async fn add_status(
        &self,
        document_id: &str,
        recipient: &str,
        seen: StatusSeen,
    ) -> io::Result<bool> {
        self.change(document_id, true, |record| {
            let state = record.recipients.entry(recipient.to_owned()).or_default();
            // At-least-once delivery can bring the same status twice (a
            // receiver that crashed after sending 01 sends it again, with a
            // new timestamp): a code with the same description is kept
            // once, at its first time.
            if !state
                .statuses
                .iter()
                .any(|s| s.code == seen.code && s.description == seen.description)
            {
                state.statuses.push(seen);
            }
        })
        .await
    }
}

/// Creates segment `number` (empty) and makes its name durable.
fn open_segment(dir: &Path, number: u64) -> io::Result<File> {
    // Append mode: after a failed append is cut off, the next one goes
    // at the new end.
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(segment_path(dir, number))?;
    file.set_len(0)?;
    fsio::fsync_dir(dir)?;
    Ok(file)
}

/// Writes the last state of every record the log segments in `dir` hold,
/// durably, then deletes the segments. Returns the number of records.
fn replay(dir: &Path, spares: &fsio::Spares) -> io::Result<usize> {
    let found = segments(dir)?;
    if found.is_empty() {
        return Ok(0);
    }
    let mut last: HashMap<String, Line> = HashMap::new();
    let mut signed: HashMap<String, String> = HashMap::new();
    for (_, path) in &found {
        for line in BufReader::new(File::open(path)?).split(b'\n') {
            // A torn last line (a crash in the middle of an append) was
            // never acknowledged: its change is made again.
            let Ok(mut line) = serde_json::from_slice::<Line>(&line?) else {
                tracing::warn!(path = %path.display(), "sent/ log: a torn line; the change it held was never acknowledged");
                break;
            };
            if let Some(s) = line.signed.take() {
                signed.insert(line.stem.clone(), s);
            }
            last.insert(line.stem.clone(), line);
        }
    }
    for (stem, line) in &last {
        if let Some(s) = signed.get(stem) {
            spares.write_atomic_undurable_name(dir, &format!("{stem}.xml"), s.as_bytes())?;
        }
        spares.write_atomic_undurable_name(
            dir,
            &format!("{stem}.json"),
            &json_bytes(&line.record)?,
        )?;
    }
    fsio::fsync_dir(dir)?;
    for (_, path) in &found {
        fs::remove_file(path)?;
    }
    fsio::fsync_dir(dir)?;
    Ok(last.len())
}

impl Shared {
    /// One group commit: append and fsync the lines, update the slots,
    /// write the `.xml` of new records and the `.json` asked for now.
    fn commit(&self, lines: &[(Line, bool)]) -> io::Result<()> {
        let mut segment = lock(&self.segment);
        if segment.broken {
            self.rotate(&mut segment)?;
        }
        // Written through a bounded buffer: a batch of documents (their
        // signed bytes included) never sits in memory whole.
        let written = Self::append(&segment.file, lines).and_then(|n| {
            segment.file.sync_data()?;
            Ok(n)
        });
        match written {
            Ok(n) => segment.bytes += n,
            Err(e) => {
                // Part of the lines may be in the file, and a later line
                // must never follow a torn one (replay stops at it): cut
                // them off, or if even that fails, end the segment here.
                let cut = segment.bytes;
                if segment.file.set_len(cut).is_err() {
                    segment.broken = true;
                }
                return Err(e);
            }
        }
        // From here on, the changes are durable.
        let deadline = Instant::now() + MATERIALISE_AFTER;
        let mut now = HashSet::new();
        {
            let mut state = lock(&self.state);
            let State { slots, due } = &mut *state;
            for (line, materialise_now) in lines {
                let id = &line.record.document_id;
                segment.documents.insert(id.clone());
                let slot = slots.entry(id.as_str().into()).or_insert_with(|| Slot {
                    stem: line.stem.as_str().into(),
                    version: 0,
                    pending: None,
                });
                slot.version += 1;
                if slot.pending.is_none() {
                    due.push_back((deadline, id.clone()));
                }
                slot.pending = Some(Box::new(line.record.clone()));
                if *materialise_now {
                    now.insert(id.clone());
                }
            }
        }
        for (line, _) in lines {
            if let Some(signed) = &line.signed {
                self.spares.write_atomic_unsynced(
                    &self.dir,
                    &format!("{}.xml", line.stem),
                    signed.as_bytes(),
                )?;
            }
        }
        self.materialise_ids(now.iter())?;
        if segment.bytes >= self.segment_bytes {
            self.rotate(&mut segment)?;
        }
        Ok(())
    }

    /// Appends `lines` to `file`; returns the number of bytes written.
    fn append(file: &File, lines: &[(Line, bool)]) -> io::Result<u64> {
        let mut w = io::BufWriter::with_capacity(256 << 10, file);
        let mut n = 0u64;
        for (line, _) in lines {
            let mut json = serde_json::to_vec(line).map_err(io::Error::other)?;
            json.push(b'\n');
            w.write_all(&json)?;
            n += json.len() as u64;
        }
        w.flush()?;
        Ok(n)
    }

    /// Closes the current segment (queueing it for its checkpoint) and
    /// opens the next.
    fn rotate(&self, segment: &mut Segment) -> io::Result<()> {
        let number = segment.number + 1;
        let file = open_segment(&self.dir, number)?;
        let old = std::mem::replace(
            segment,
            Segment {
                file,
                number,
                bytes: 0,
                documents: HashSet::new(),
                broken: false,
            },
        );
        lock(&self.closed).push_back(Closed {
            number: old.number,
            documents: old.documents,
            at: Instant::now(),
        });
        Ok(())
    }

    /// Writes `<stem>.json` of those of `ids` (DocumentIds) whose record is
    /// pending. A record changed again meanwhile stays pending.
    fn materialise_ids<'a>(&self, ids: impl Iterator<Item = &'a String>) -> io::Result<()> {
        let chosen: Vec<(String, String, u64, SentRecord)> = {
            let state = lock(&self.state);
            ids.filter_map(|id| {
                let slot = state.slots.get(id.as_str())?;
                let record = slot.pending.as_deref()?.clone();
                Some((id.clone(), slot.stem.to_string(), slot.version, record))
            })
            .collect()
        };
        self.write_json(chosen)
    }

    fn write_json(&self, chosen: Vec<(String, String, u64, SentRecord)>) -> io::Result<()> {
        let _writing = lock(&self.writing);
        let mut written = Vec::with_capacity(chosen.len());
        let mut result = Ok(());
        for (id, stem, version, record) in chosen {
            let r = json_bytes(&record).and_then(|json| {
                self.spares
                    .write_atomic_unsynced(&self.dir, &format!("{stem}.json"), &json)
            });
            match r {
                Ok(_) => written.push((id, version)),
                Err(e) => {
                    // Still pending: tried again at the next tick.
                    result = Err(e);
                    break;
                }
            }
        }
        let mut state = lock(&self.state);
        for (id, version) in written {
            if let Some(slot) = state.slots.get_mut(id.as_str()) {
                if slot.version == version {
                    slot.pending = None;
                }
            }
        }
        result
    }

    /// Materialises the records due by `now`.
    fn materialise_due(&self, now: Instant) -> io::Result<()> {
        let mut ids = Vec::new();
        {
            let mut state = lock(&self.state);
            while let Some((at, _)) = state.due.front() {
                if *at > now {
                    break;
                }
                let (_, id) = state.due.pop_front().unwrap_or_else(|| unreachable!());
                ids.push(id);
            }
        }
        let result = self.materialise_ids(ids.iter());
        // What could not be written stays due.
        let mut state = lock(&self.state);
        let State { slots, due } = &mut *state;
        for id in ids {
            if slots.get(id.as_str()).is_some_and(|s| s.pending.is_some()) {
                due.push_back((now, id));
            }
        }
        result
    }

    /// Makes a closed segment's records durable in their files, then
    /// deletes it. Its records are materialised already (by the committer,
    /// just before).
    fn checkpoint(&self, closed: &Closed) -> io::Result<()> {
        let stems: Vec<String> = {
            let state = lock(&self.state);
            closed
                .documents
                .iter()
                .filter_map(|id| state.slots.get(id.as_str()).map(|s| s.stem.to_string()))
                .collect()
        };
        for stem in &stems {
            for ext in ["xml", "json"] {
                File::open(self.dir.join(format!("{stem}.{ext}")))?.sync_all()?;
            }
        }
        fsio::fsync_dir(&self.dir)?;
        fs::remove_file(segment_path(&self.dir, closed.number))?;
        // Durably gone before a later segment may go: replaying this one
        // after a later one was deleted would bring back older states.
        fsio::fsync_dir(&self.dir)
    }
}

/// Runs blocking work of the committer on the blocking pool.
async fn blocking<T: Send + 'static>(
    shared: &Arc<Shared>,
    f: impl FnOnce(&Shared) -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    let s = shared.clone();
    tokio::task::spawn_blocking(move || f(&s))
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e)))
}

/// The committer: takes every change waiting, commits them together;
/// between commits, materialises what is due and checkpoints closed
/// segments, one at a time, oldest first.
async fn committer(shared: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<Request>) {
    let mut checkpoint: Option<JoinHandle<(Closed, io::Result<()>)>> = None;
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            first = rx.recv() => {
                let Some(first) = first else { break };
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(r) => batch.push(r),
                        Err(_) => break,
                    }
                }
                let (lines, replies): (Vec<(Line, bool)>, Vec<_>) =
                    batch.into_iter().map(|r| ((r.line, r.now), r.reply)).unzip();
                let changes = lines.len();
                match blocking(&shared, move |s| s.commit(&lines)).await {
                    Ok(()) => {
                        for r in replies {
                            let _ = r.send(Ok(()));
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, changes, "sent/ log commit failed");
                        for r in replies {
                            let _ = r.send(Err(io::Error::new(e.kind(), e.to_string())));
                        }
                    }
                }
            }
            _ = tick.tick() => {
                if let Err(e) = blocking(&shared, |s| s.materialise_due(Instant::now())).await {
                    tracing::error!(error = %e, "cannot write a record in sent/; trying again");
                }
                if checkpoint.as_ref().is_some_and(|h| h.is_finished()) {
                    if let Some(Ok((c, Err(e)))) = match checkpoint.take() {
                        Some(h) => Some(h.await),
                        None => None,
                    } {
                        tracing::error!(error = %e, segment = c.number, "sent/ checkpoint failed; trying again");
                        lock(&shared.closed).push_front(c);
                    }
                }
                if checkpoint.is_none() {
                    checkpoint = start_checkpoint(&shared).await;
                }
            }
        }
    }
    if let Some(h) = checkpoint {
        let _ = h.await;
    }
}

/// Starts the checkpoint of the oldest closed segment if it is due.
async fn start_checkpoint(shared: &Arc<Shared>) -> Option<JoinHandle<(Closed, io::Result<()>)>> {
    let c = {
        let mut closed = lock(&shared.closed);
        let due = closed
            .front()
            .is_some_and(|c| c.at.elapsed() >= shared.checkpoint_after)
            || closed.len() > MAX_CLOSED;
        if !due {
            return None;
        }
        closed.pop_front()?
    };
    // Its records are materialised first, in the committer's turn: no file
    // is ever written by two at once.
    let ids: Vec<String> = c.documents.iter().cloned().collect();
    if let Err(e) = blocking(shared, move |s| s.materialise_ids(ids.iter())).await {
        tracing::error!(error = %e, "cannot write a record in sent/; trying again");
        lock(&shared.closed).push_front(c);
        return None;
    }
    let s = shared.clone();
    Some(tokio::task::spawn_blocking(move || {
        let result = s.checkpoint(&c);
        (c, result)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spares(dir: &Path) -> Arc<fsio::Spares> {
        Arc::new(fsio::Spares::open(&dir.join(".spare")).unwrap())
    }

    fn record() -> SentRecord {
        SentRecord {
            document_id: "D1".into(),
            message_id: "ab".into(),
            sent_at: Some("2022-07-01T08:30:00+07:00".into()),
            source: "cv.xml".into(),
            recipients: [("000.00.00.G12".to_owned(), RecipientState::default())].into(),
        }
    }

    fn seen(at: &str) -> StatusSeen {
        StatusSeen {
            code: "01".into(),
            label: "arrived".into(),
            at: at.into(),
            description: String::new(),
        }
    }

    fn json_on_disk(dir: &Path, stem: &str) -> SentRecord {
        serde_json::from_slice(&fs::read(dir.join(format!("{stem}.json"))).unwrap()).unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn statuses_accumulate_once_each_and_survive_reopening() {
        let d = tempfile::tempdir().unwrap();
        let s = SentStore::open(d.path(), spares(d.path())).unwrap();
        s.create("d1", b"<x/>", &record()).await.unwrap();
        assert_eq!(fs::read(d.path().join("d1.xml")).unwrap(), b"<x/>");
        let first = seen("2022/07/01 08:31:00");
        assert!(s
            .add_status("D1", "000.00.00.G12", first.clone())
            .await
            .unwrap());
        // In the file as soon as it is recorded.
        let r = json_on_disk(d.path(), "d1");
        assert_eq!(r.recipients["000.00.00.G12"].statuses, vec![first.clone()]);
        let later = seen("2022/07/01 08:32:00");
        assert!(s.add_status("D1", "000.00.00.G12", later).await.unwrap());
        assert!(!s.add_status("D2", "000.00.00.G12", first).await.unwrap());
        s.close().await;
        let s = SentStore::open(d.path(), spares(d.path())).unwrap();
        let r = s.get("D1").unwrap().unwrap();
        assert_eq!(r.recipients["000.00.00.G12"].statuses.len(), 1);
        s.close().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn changes_reach_the_file_later_and_the_log_makes_them_durable() {
        let d = tempfile::tempdir().unwrap();
        let s = SentStore::open(d.path(), spares(d.path())).unwrap();
        let mut r = record();
        r.sent_at = None;
        s.create("d1", b"<x/>", &r).await.unwrap();
        s.confirm("D1", "2022-07-01T08:30:00+07:00".into(), &[])
            .await
            .unwrap();
        // Known at once, in memory.
        assert!(s.get("D1").unwrap().unwrap().sent_at.is_some());
        // A clean stop writes it.
        s.flush().await.unwrap();
        assert_eq!(json_on_disk(d.path(), "d1"), record());
        // A SIGKILL before the file was written: the next open writes it
        // from the log.
        s.close().await;
        let _ = fs::remove_file(d.path().join("d1.json"));
        let s = SentStore::open(d.path(), spares(d.path())).unwrap();
        assert_eq!(json_on_disk(d.path(), "d1"), record());
        assert!(s.unconfirmed().unwrap().is_empty());
        assert!(segments(d.path()).unwrap().len() <= 1);
        // Without a stop, the file follows within MATERIALISE_AFTER.
        let mut other = record();
        other.document_id = "D2".into();
        s.create("d2", b"<y/>", &other).await.unwrap();
        tokio::time::sleep(MATERIALISE_AFTER + TICK * 3).await;
        assert_eq!(json_on_disk(d.path(), "d2"), other);
        s.close().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn full_segments_are_checkpointed_into_the_files_and_deleted() {
        let d = tempfile::tempdir().unwrap();
        // Every commit fills a segment; checkpoints as soon as closed.
        let s = SentStore::open_with(d.path(), spares(d.path()), 1, Duration::ZERO).unwrap();
        for i in 0..5 {
            let mut r = record();
            r.document_id = format!("D{i}");
            r.sent_at = None;
            s.create(&format!("d{i}"), b"<x/>", &r).await.unwrap();
            s.confirm(&r.document_id, "2022-07-01T08:30:00+07:00".into(), &[])
                .await
                .unwrap();
        }
        let one_left = || segments(d.path()).unwrap().len() == 1;
        for _ in 0..100 {
            if one_left() {
                break;
            }
            tokio::time::sleep(TICK).await;
        }
        // Only the segment being written is left; the records are in
        // their files, whole, without any replay.
        assert!(one_left(), "{:?}", segments(d.path()).unwrap());
        for i in 0..5 {
            let r = json_on_disk(d.path(), &format!("d{i}"));
            assert_eq!(r.document_id, format!("D{i}"));
            assert!(r.sent_at.is_some());
        }
        // A change after the checkpoints still lands, and survives a crash.
        assert!(s
            .add_status("D0", "000.00.00.G12", seen("2022/07/01 08:31:00"))
            .await
            .unwrap());
        std::mem::forget(s);
        let s = SentStore::open(d.path(), spares(d.path())).unwrap();
        let r = s.get("D0").unwrap().unwrap();
        assert_eq!(r.recipients["000.00.00.G12"].statuses.len(), 1);
        assert!(s.unconfirmed().unwrap().is_empty());
        s.close().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_torn_last_line_is_a_change_never_acknowledged() {
        let d = tempfile::tempdir().unwrap();
        let s = SentStore::open(d.path(), spares(d.path())).unwrap();
        let mut r = record();
        r.sent_at = None;
        s.create("d1", b"<x/>", &r).await.unwrap();
        // A crash before the checkpoint: the log is all there is.
        std::mem::forget(s);
        let (_, log) = segments(d.path()).unwrap().pop().unwrap();
        let _ = fs::remove_file(d.path().join("d1.json"));
        let mut f = OpenOptions::new().append(true).open(&log).unwrap();
        f.write_all(b"{\"stem\":\"d1\",\"rec").unwrap();
        drop(f);
        let s = SentStore::open(d.path(), spares(d.path())).unwrap();
        assert_eq!(json_on_disk(d.path(), "d1"), r);
        assert_eq!(s.unconfirmed().unwrap(), vec!["D1".to_owned()]);
        assert_eq!(s.signed_bytes("D1").unwrap().unwrap(), b"<x/>");
        s.close().await;
    }
}
