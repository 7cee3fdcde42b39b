//! The receiver's memory: which documents and statuses it has taken in,
//! surviving restarts, so that a redelivery never reaches the inbox twice.
//!
//! An append-only file of JSON lines. Taking in a message is ordered so
//! that a crash at any instant is safe:
//!
//! 1. the message is written to `<folder>/.staging/<file>` and fsynced
//!    ([`Journal::stage`], by each delivery on its own, so that many run at
//!    once and the file system commits their fsyncs together);
//! 2. a `received` line is appended to the journal and fsynced — from here
//!    on the message counts as received;
//! 3. the staged file is renamed into the folder, and the folder fsynced.
//!
//! Steps 2 and 3 are a group commit ([`Journal::commit`]): one task writes
//! the lines of every message waiting at that moment with one fsync of the
//! staging folders, one of the journal and one per destination folder, so
//! the cost of durability is paid per batch, not per message. The same
//! task decides duplicates (same digest, or same sender and DocumentId),
//! so two copies of one document that are in flight at once still reach
//! the inbox once.
//!
//! On start-up, [`Journal::open`] finishes step 3 for every received entry
//! whose staged file is still there. A crash before step 2 leaves only a
//! staged file that the redelivery overwrites. After step 3 the document
//! system may take the file away at any time; the journal still remembers.

use std::collections::{BTreeSet, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use sha2::{Digest as _, Sha256};

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::fsio;

/// What kind of message an entry is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// A document written to `inbox/`.
    Document,
    /// A status written to `status-inbox/`.
    Status,
}

/// One line of the journal.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Line {
    Received {
        kind: EntryKind,
        digest: String,
        document_id: String,
        sender: String,
        /// Final path, relative to the adapter's data directory.
        file: String,
    },
    /// Status 01 for this document is confirmed by the axis.
    Answered { digest: String },
}

/// What the journal knows of one received message. (Where it was written
/// is in the log, not here: only [`Journal::open`] needs it, to complete
/// interrupted renames, and the index is kept for every message ever
/// received.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Document or status.
    pub kind: EntryKind,
    /// DocumentId (for a status: the document it is about).
    pub document_id: String,
    /// Sending agency.
    pub sender: String,
    /// Whether status 01 was confirmed sent (documents only).
    pub answered: bool,
}

/// A message to take in.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    /// Document or status.
    pub kind: EntryKind,
    /// Payload digest (the axis message id).
    pub digest: &'a str,
    /// DocumentId (for a status: the document it is about).
    pub document_id: &'a str,
    /// Sending agency.
    pub sender: &'a str,
    /// Destination folder, relative to the data directory.
    pub folder: &'a str,
    /// File name in that folder.
    pub name: &'a str,
    /// The bytes.
    pub bytes: &'a [u8],
}

/// What [`Journal::commit`] did with a staged message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Committed {
    /// Received now: its file is in the folder, durably.
    New,
    /// Already received (same digest, or for a document the same sender
    /// and DocumentId with other bytes): nothing written.
    Duplicate,
}

/// Name of the staging folder inside a destination folder.
pub const STAGING: &str = ".staging";

/// Largest number of messages in one group commit.
const MAX_BATCH: usize = 512;

/// A payload digest as the index keeps it: 32 bytes, not 64 hex
/// characters in a `String` of their own.
type Key = [u8; 32];

/// The in-memory index: one entry per message ever received, so it is
/// kept small. A digest (every axis message id is the SHA-256 of the
/// payload in lowercase hex) is kept as its 32 bytes; an agency, of which
/// there are few, as a number; a DocumentId once, shared by both maps.
#[derive(Debug, Default)]
struct Index {
    by_digest: HashMap<Key, Rec>,
    /// (sender, DocumentId) of documents, to recognise a re-signed re-send.
    by_document: HashMap<(u32, Arc<str>), Key>,
    /// Agencies, by number.
    agencies: Vec<Box<str>>,
    agency_numbers: HashMap<Box<str>, u32>,
    /// The text of the digests that are not SHA-256 in lowercase hex (none
    /// on the axis), by their key, the SHA-256 of that text.
    other_digests: HashMap<Key, Box<str>>,
}

/// One received message in the index.
#[derive(Debug)]
struct Rec {
    document_id: Arc<str>,
    sender: u32,
    kind: EntryKind,
    answered: bool,
}

/// The key of `digest` (see [`Index`]): its bytes if it is lowercase hex
/// SHA-256, else the SHA-256 of the text (a preimage of one digest by
/// another is out of reach, so two digests never share a key) and whether
/// the text must be kept aside.
fn key_of(digest: &str) -> (Key, bool) {
    let mut key = [0; 32];
    // Lowercase only: the text must come back as it was given.
    let lower_hex = digest
        .bytes()
        .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if lower_hex && hex::decode_to_slice(digest, &mut key).is_ok() {
        return (key, false);
    }
    (Sha256::digest(digest.as_bytes()).into(), true)
}

impl Index {
    fn agency(&self, name: &str) -> Option<u32> {
        self.agency_numbers.get(name).copied()
    }

    fn add_agency(&mut self, name: &str) -> u32 {
        if let Some(n) = self.agency(name) {
            return n;
        }
        let n = self.agencies.len() as u32;
        self.agencies.push(name.into());
        self.agency_numbers.insert(name.into(), n);
        n
    }

    /// The text of the digest kept as `key`.
    fn digest_text(&self, key: &Key) -> String {
        match self.other_digests.get(key) {
            Some(text) => text.to_string(),
            None => hex::encode(key),
        }
    }

    fn get(&self, digest: &str) -> Option<&Rec> {
        self.by_digest.get(&key_of(digest).0)
    }

    /// The digest of the document `document_id` from `sender`, as a key.
    fn document(&self, sender: &str, document_id: &str) -> Option<&Key> {
        let sender = self.agency(sender)?;
        self.by_document.get(&(sender, Arc::from(document_id)))
    }

    fn apply(&mut self, line: Line) {
        match line {
            Line::Received {
                kind,
                digest,
                document_id,
                sender,
                file: _,
            } => {
                let (key, other) = key_of(&digest);
                if other {
                    self.other_digests.insert(key, digest.into());
                }
                let sender = self.add_agency(&sender);
                let document_id: Arc<str> = Arc::from(document_id);
                if kind == EntryKind::Document {
                    self.by_document.insert((sender, document_id.clone()), key);
                }
                self.by_digest.insert(
                    key,
                    Rec {
                        document_id,
                        sender,
                        kind,
                        answered: false,
                    },
                );
            }
            Line::Answered { digest } => {
                if let Some(e) = self.by_digest.get_mut(&key_of(&digest).0) {
                    e.answered = true;
                }
            }
        }
    }

    fn knows(&self, line: &Line) -> bool {
        match line {
            Line::Received {
                kind,
                digest,
                document_id,
                sender,
                ..
            } => {
                self.get(digest).is_some()
                    || (*kind == EntryKind::Document
                        && self.document(sender, document_id).is_some())
            }
            Line::Answered { .. } => false,
        }
    }

    fn entry(&self, rec: &Rec) -> Entry {
        Entry {
            kind: rec.kind,
            document_id: rec.document_id.to_string(),
            sender: self.agencies[rec.sender as usize].to_string(),
            answered: rec.answered,
        }
    }
}

/// One request to the committer.
struct Request {
    line: Line,
    reply: oneshot::Sender<io::Result<Committed>>,
}

struct Shared {
    root: PathBuf,
    spares: Arc<fsio::Spares>,
    file: Mutex<File>,
    index: Mutex<Index>,
}

/// The journal: an index in memory, a log on disk, and the task that
/// commits to the log in groups.
#[derive(Debug)]
pub struct Journal {
    shared: Arc<Shared>,
    requests: mpsc::UnboundedSender<Request>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal").field("root", &self.root).finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Journal {
    /// Opens (or creates) the journal at `root/journal.jsonl`, completes
    /// interrupted renames and starts the committer (on the current Tokio
    /// runtime). `root` is the adapter's data directory.
    /// Staged files are written over spare inodes from `spares` (see
    /// [`fsio::Spares`]).
    pub fn open(root: &Path, spares: Arc<fsio::Spares>) -> io::Result<Journal> {
        let path = root.join("journal.jsonl");
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(&path)?;
        let mut index = Index::default();
        let mut valid_len = 0u64;
        let reader = BufReader::new(File::open(&path)?);
        for line in reader.split(b'\n') {
            let line = line?;
            // A torn last line (crash in the middle of an append) is not
            // valid JSON: it is dropped, and its message is redelivered.
            match serde_json::from_slice::<Line>(&line) {
                Ok(l) => {
                    // Each message's file name is at hand only here (the
                    // index does not keep it).
                    complete_rename(root, &l)?;
                    index.apply(l);
                    valid_len += line.len() as u64 + 1;
                }
                Err(_) => break,
            }
        }
        if valid_len < file.metadata()?.len() {
            tracing::warn!(path = %path.display(), "journal had a torn last line; truncating it");
            file.set_len(valid_len)?;
            file.sync_all()?;
        }
        let shared = Arc::new(Shared {
            root: root.to_owned(),
            spares,
            file: Mutex::new(file),
            index: Mutex::new(index),
        });
        let (requests, rx) = mpsc::unbounded_channel();
        tokio::spawn(committer(shared.clone(), rx));
        Ok(Journal { shared, requests })
    }

    /// Step 1: writes the message to its folder's staging area and fsyncs
    /// it. Blocking; callers run many at once.
    pub fn stage(&self, m: &Incoming<'_>) -> io::Result<()> {
        let staging = self.shared.root.join(m.folder).join(STAGING);
        let open = || self.shared.spares.open_truncated(&staging.join(m.name));
        // The staging folder exists but for the first message: no mkdir
        // per message.
        let mut f = match open() {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(&staging)?;
                open()?
            }
            other => other?,
        };
        f.write_all(m.bytes)?;
        f.sync_data()
    }

    /// Steps 2 and 3 for a staged message, in the next group commit.
    pub async fn commit(&self, m: &Incoming<'_>) -> io::Result<Committed> {
        self.request(Line::Received {
            kind: m.kind,
            digest: m.digest.to_owned(),
            document_id: m.document_id.to_owned(),
            sender: m.sender.to_owned(),
            file: format!("{}/{}", m.folder, m.name),
        })
        .await
    }

    /// Stages and commits (for callers with one message).
    pub async fn receive(&self, m: &Incoming<'_>) -> io::Result<Committed> {
        tokio::task::block_in_place(|| self.stage(m))?;
        self.commit(m).await
    }

    /// Records, durably, that status 01 for `digest` is confirmed sent.
    pub async fn answered(&self, digest: &str) -> io::Result<()> {
        self.request(Line::Answered {
            digest: digest.to_owned(),
        })
        .await
        .map(|_| ())
    }

    async fn request(&self, line: Line) -> io::Result<Committed> {
        let (reply, rx) = oneshot::channel();
        self.requests
            .send(Request { line, reply })
            .map_err(|_| io::Error::other("the journal is closed"))?;
        rx.await
            .map_err(|_| io::Error::other("the journal stopped"))?
    }

    /// The entry for a payload digest, if received.
    pub fn get(&self, digest: &str) -> Option<Entry> {
        let index = lock(&self.shared.index);
        index.get(digest).map(|rec| index.entry(rec))
    }

    /// The digest of the document `document_id` from `sender`, if one was
    /// received (perhaps with other bytes: a re-signed re-send).
    pub fn document(&self, sender: &str, document_id: &str) -> Option<String> {
        let index = lock(&self.shared.index);
        index
            .document(sender, document_id)
            .map(|key| index.digest_text(key))
    }

    /// The sender and digest of a received document, by DocumentId alone.
    pub fn find_document(&self, document_id: &str) -> Option<(String, String)> {
        let index = lock(&self.shared.index);
        index
            .by_document
            .iter()
            .find(|((_, d), _)| &**d == document_id)
            .map(|((sender, _), key)| {
                (
                    index.agencies[*sender as usize].to_string(),
                    index.digest_text(key),
                )
            })
    }

    /// Number of messages received.
    pub fn len(&self) -> usize {
        lock(&self.shared.index).by_digest.len()
    }

    /// True if nothing was received yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Completes step 3 for a received message whose staged file is still
/// there (a crash between the journal append and the rename).
fn complete_rename(root: &Path, line: &Line) -> io::Result<()> {
    let Line::Received {
        file, document_id, ..
    } = line
    else {
        return Ok(());
    };
    let target = root.join(file);
    let (Some(dir), Some(name)) = (target.parent(), target.file_name()) else {
        return Ok(());
    };
    let staged = dir.join(STAGING).join(name);
    if staged.exists() {
        tracing::info!(file = %file, document_id = %document_id, "completing an interrupted delivery into the folder");
        fsio::move_into(&staged, dir, &name.to_string_lossy())?;
    }
    Ok(())
}

impl Shared {
    /// One group commit: decide duplicates, make the staged files' names
    /// durable, append and fsync the lines, rename into the folders, fsync
    /// the folders. Returns one outcome per line, in order.
    fn commit(&self, lines: Vec<Line>) -> io::Result<Vec<Committed>> {
        let mut file = lock(&self.file);
        let mut outcomes = Vec::with_capacity(lines.len());
        let mut new = Vec::new();
        let mut duplicates = Vec::new();
        {
            let index = lock(&self.index);
            let mut seen = Index::default();
            for line in lines {
                if index.knows(&line) || seen.knows(&line) {
                    outcomes.push(Committed::Duplicate);
                    duplicates.push(line);
                    continue;
                }
                seen.apply(line.clone());
                outcomes.push(Committed::New);
                new.push(line);
            }
        }
        let mut folders = BTreeSet::new();
        for line in &new {
            if let Line::Received { file, .. } = line {
                if let Some(dir) = self.root.join(file).parent() {
                    folders.insert(dir.to_owned());
                }
            }
        }
        for dir in &folders {
            fsio::fsync_dir(&dir.join(STAGING))?;
        }
        let mut bytes = Vec::new();
        for line in &new {
            serde_json::to_writer(&mut bytes, line).map_err(io::Error::other)?;
            bytes.push(b'\n');
        }
        if !bytes.is_empty() {
            file.write_all(&bytes)?;
            file.sync_data()?;
        }
        for line in &new {
            if let Line::Received { file, .. } = line {
                let target = self.root.join(file);
                if let (Some(dir), Some(name)) = (target.parent(), target.file_name()) {
                    fs::rename(dir.join(STAGING).join(name), &target)?;
                }
            }
        }
        for dir in &folders {
            fsio::fsync_dir(dir)?;
            fsio::fsync_dir(&dir.join(STAGING))?;
        }
        // A duplicate's staged copy is not needed (if it has the name of
        // the copy renamed above, it is gone already).
        for line in &duplicates {
            if let Line::Received { file, .. } = line {
                let target = self.root.join(file);
                if let (Some(dir), Some(name)) = (target.parent(), target.file_name()) {
                    let _ = fs::remove_file(dir.join(STAGING).join(name));
                }
            }
        }
        let mut index = lock(&self.index);
        for line in new {
            index.apply(line);
        }
        Ok(outcomes)
    }
}

/// The group committer: takes every request waiting, commits them together.
async fn committer(shared: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<Request>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        let lines: Vec<Line> = batch.iter().map(|r| r.line.clone()).collect();
        let s = shared.clone();
        let result = tokio::task::spawn_blocking(move || s.commit(lines))
            .await
            .unwrap_or_else(|e| Err(io::Error::other(e)));
        match result {
            Ok(outcomes) => {
                for (r, o) in batch.into_iter().zip(outcomes) {
                    let _ = r.reply.send(Ok(o));
                }
            }
            Err(e) => {
                // Nothing of this batch counts as received: the messages
                // stay unacknowledged and are tried again.
                tracing::error!(error = %e, messages = batch.len(), "journal commit failed");
                for r in batch {
                    let _ = r.reply.send(Err(io::Error::new(e.kind(), e.to_string())));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spares(root: &Path) -> Arc<fsio::Spares> {
        Arc::new(fsio::Spares::open(&root.join(".spare")).unwrap())
    }

    fn incoming<'a>(digest: &'a str, name: &'a str) -> Incoming<'a> {
        Incoming {
            kind: EntryKind::Document,
            digest,
            document_id: "D1",
            sender: "000.00.00.G22",
            folder: "inbox",
            name,
            bytes: b"<x/>",
        }
    }

    async fn receive(j: &Journal, digest: &str) -> (PathBuf, Committed) {
        let name = format!("{digest}.xml");
        let c = j.receive(&incoming(digest, &name)).await.unwrap();
        (j.shared.root.join("inbox").join(name), c)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn remembers_across_restarts_even_after_the_file_is_taken() {
        let d = tempfile::tempdir().unwrap();
        let j = Journal::open(d.path(), spares(d.path())).unwrap();
        let (path, c) = receive(&j, "aa").await;
        assert_eq!(c, Committed::New);
        j.answered("aa").await.unwrap();
        fs::remove_file(path).unwrap(); // the document system took it
        drop(j);
        let j = Journal::open(d.path(), spares(d.path())).unwrap();
        let e = j.get("aa").unwrap();
        assert!(e.answered);
        assert_eq!(j.document("000.00.00.G22", "D1").as_deref(), Some("aa"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn completes_a_rename_interrupted_by_a_crash() {
        let d = tempfile::tempdir().unwrap();
        let j = Journal::open(d.path(), spares(d.path())).unwrap();
        let (path, _) = receive(&j, "bb").await;
        // Simulate the crash between journal append and rename.
        let staged = d.path().join("inbox").join(STAGING).join("bb.xml");
        fs::rename(&path, &staged).unwrap();
        drop(j);
        let j = Journal::open(d.path(), spares(d.path())).unwrap();
        assert!(path.exists());
        assert!(!staged.exists());
        assert!(j.get("bb").is_some());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_torn_last_line_is_dropped() {
        let d = tempfile::tempdir().unwrap();
        let j = Journal::open(d.path(), spares(d.path())).unwrap();
        receive(&j, "cc").await;
        drop(j);
        let mut f = OpenOptions::new()
            .append(true)
            .open(d.path().join("journal.jsonl"))
            .unwrap();
        f.write_all(b"{\"op\":\"received\",\"kind\":\"docu")
            .unwrap();
        drop(f);
        let j = Journal::open(d.path(), spares(d.path())).unwrap();
        assert_eq!(j.len(), 1);
        // Another document: other DocumentId.
        let m = Incoming {
            document_id: "D2",
            ..incoming("dd", "dd.xml")
        };
        assert_eq!(j.receive(&m).await.unwrap(), Committed::New);
        drop(j);
        assert_eq!(Journal::open(d.path(), spares(d.path())).unwrap().len(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn copies_in_flight_together_are_received_once() {
        let d = tempfile::tempdir().unwrap();
        let j = Arc::new(Journal::open(d.path(), spares(d.path())).unwrap());
        // The same digest twice, and the same DocumentId with other bytes
        // (a re-signed re-send), all staged and committed at once.
        let digests: [&'static str; 3] = ["ee", "ee", "ff"];
        let tasks: Vec<_> = digests
            .into_iter()
            .map(|digest| {
                let j = j.clone();
                tokio::spawn(async move { receive(&j, digest).await.1 })
            })
            .collect();
        let mut outcomes = Vec::new();
        for t in tasks {
            outcomes.push(t.await.unwrap());
        }
        assert_eq!(
            outcomes.iter().filter(|c| **c == Committed::New).count(),
            1,
            "{outcomes:?}"
        );
        assert_eq!(j.len(), 1);
        let inbox: Vec<_> = fs::read_dir(d.path().join("inbox"))
            .unwrap()
            .filter_map(|e| {
                let n = e.unwrap().file_name().to_string_lossy().into_owned();
                (!n.starts_with('.')).then_some(n)
            })
            .collect();
        assert_eq!(inbox.len(), 1, "{inbox:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn digests_and_agencies_come_back_as_they_were_given() {
        let d = tempfile::tempdir().unwrap();
        // A message id of the axis (lowercase hex SHA-256, kept as its
        // bytes) and other text (kept as it is), across a restart.
        let (hex, other) = ("ab".repeat(32), "CD".repeat(32));
        let j = Journal::open(d.path(), spares(d.path())).unwrap();
        receive(&j, &hex).await;
        let status = Incoming {
            kind: EntryKind::Status,
            document_id: "D2",
            sender: "000.00.00.H41",
            folder: "status-inbox",
            ..incoming(&other, "s.xml")
        };
        assert_eq!(j.receive(&status).await.unwrap(), Committed::New);
        drop(j);
        let j = Journal::open(d.path(), spares(d.path())).unwrap();
        assert_eq!(j.len(), 2);
        assert_eq!(j.document("000.00.00.G22", "D1"), Some(hex.clone()));
        assert_eq!(
            j.find_document("D1"),
            Some(("000.00.00.G22".to_owned(), hex.clone()))
        );
        assert_eq!(
            j.get(&other),
            Some(Entry {
                kind: EntryKind::Status,
                document_id: "D2".into(),
                sender: "000.00.00.H41".into(),
                answered: false,
            })
        );
        assert!(j.get(&other.to_lowercase()).is_none());
        assert!(j.get(&hex.to_uppercase()).is_none());
        // A status is not a document; an unknown agency has none.
        assert_eq!(j.document("000.00.00.H41", "D2"), None);
        assert_eq!(j.find_document("D2"), None);
        assert_eq!(j.document("000.00.00.H99", "D1"), None);
    }
}
