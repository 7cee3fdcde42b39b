//! The receiver's memory: which documents and statuses it has taken in,
//! surviving restarts, so that a redelivery never reaches the inbox twice.
//!
//! An append-only file of JSON lines, fsynced on every append. Taking in a
//! message is ordered so that a crash at any instant is safe:
//!
//! 1. the message is written to `<folder>/.staging/<file>` (fsynced);
//! 2. a `received` line is appended to the journal (fsynced) — from here
//!    on the message counts as received;
//! 3. the staged file is renamed into the folder.
//!
//! On start-up, [`Journal::open`] finishes step 3 for every received entry
//! whose staged file is still there. A crash before step 2 leaves only a
//! staged file that the redelivery overwrites. After step 3 the document
//! system may take the file away at any time; the journal still remembers.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

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

/// What the journal knows of one received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Document or status.
    pub kind: EntryKind,
    /// DocumentId (for a status: the document it is about).
    pub document_id: String,
    /// Sending agency.
    pub sender: String,
    /// Where it was written, relative to the data directory.
    pub file: String,
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

/// The journal: in memory, and on disk.
#[derive(Debug)]
pub struct Journal {
    file: File,
    root: PathBuf,
    by_digest: HashMap<String, Entry>,
    /// (sender, DocumentId) of documents, to recognise a re-signed re-send.
    by_document: HashMap<(String, String), String>,
}

/// Name of the staging folder inside a destination folder.
pub const STAGING: &str = ".staging";

impl Journal {
    /// Opens (or creates) the journal at `root/journal.jsonl` and completes
    /// interrupted renames. `root` is the adapter's data directory.
    pub fn open(root: &Path) -> io::Result<Journal> {
        let path = root.join("journal.jsonl");
        let mut j = Journal {
            file: OpenOptions::new()
                .create(true)
                .append(true)
                .read(true)
                .open(&path)?,
            root: root.to_owned(),
            by_digest: HashMap::new(),
            by_document: HashMap::new(),
        };
        let mut valid_len = 0u64;
        let reader = BufReader::new(File::open(&path)?);
        for line in reader.split(b'\n') {
            let line = line?;
            // A torn last line (crash in the middle of an append) is not
            // valid JSON: it is dropped, and its message is redelivered.
            match serde_json::from_slice::<Line>(&line) {
                Ok(l) => {
                    j.apply(l);
                    valid_len += line.len() as u64 + 1;
                }
                Err(_) => break,
            }
        }
        if valid_len < j.file.metadata()?.len() {
            tracing::warn!(path = %path.display(), "journal had a torn last line; truncating it");
            j.file.set_len(valid_len)?;
            j.file.sync_all()?;
        }
        j.recover()?;
        Ok(j)
    }

    fn apply(&mut self, line: Line) {
        match line {
            Line::Received {
                kind,
                digest,
                document_id,
                sender,
                file,
            } => {
                if kind == EntryKind::Document {
                    self.by_document
                        .insert((sender.clone(), document_id.clone()), digest.clone());
                }
                self.by_digest.insert(
                    digest,
                    Entry {
                        kind,
                        document_id,
                        sender,
                        file,
                        answered: false,
                    },
                );
            }
            Line::Answered { digest } => {
                if let Some(e) = self.by_digest.get_mut(&digest) {
                    e.answered = true;
                }
            }
        }
    }

    /// Renames into place every received file still in staging.
    fn recover(&self) -> io::Result<()> {
        for e in self.by_digest.values() {
            let target = self.root.join(&e.file);
            let (Some(dir), Some(name)) = (target.parent(), target.file_name()) else {
                continue;
            };
            let staged = dir.join(STAGING).join(name);
            if staged.exists() {
                tracing::info!(file = %e.file, document_id = %e.document_id, "completing an interrupted delivery into the folder");
                fsio::move_into(&staged, dir, &name.to_string_lossy())?;
            }
        }
        Ok(())
    }

    fn append(&mut self, line: &Line) -> io::Result<()> {
        let mut bytes = serde_json::to_vec(line).map_err(io::Error::other)?;
        bytes.push(b'\n');
        self.file.write_all(&bytes)?;
        self.file.sync_data()
    }

    /// The entry for a payload digest, if received.
    pub fn get(&self, digest: &str) -> Option<&Entry> {
        self.by_digest.get(digest)
    }

    /// The digest of the document `document_id` from `sender`, if one was
    /// received (perhaps with other bytes: a re-signed re-send).
    pub fn document(&self, sender: &str, document_id: &str) -> Option<&str> {
        self.by_document
            .get(&(sender.to_owned(), document_id.to_owned()))
            .map(String::as_str)
    }

    /// Takes a message in: stage, journal, rename (see the module doc).
    pub fn receive(&mut self, m: &Incoming<'_>) -> io::Result<PathBuf> {
        let dir = self.root.join(m.folder);
        let staging = dir.join(STAGING);
        fs::create_dir_all(&staging)?;
        fsio::write_atomic(&staging, m.name, m.bytes)?;
        let line = Line::Received {
            kind: m.kind,
            digest: m.digest.to_owned(),
            document_id: m.document_id.to_owned(),
            sender: m.sender.to_owned(),
            file: format!("{}/{}", m.folder, m.name),
        };
        self.append(&line)?;
        self.apply(line);
        fsio::move_into(&staging.join(m.name), &dir, m.name)
    }

    /// The sender and digest of a received document, by DocumentId alone.
    pub fn find_document(&self, document_id: &str) -> Option<(&str, &str)> {
        self.by_document
            .iter()
            .find(|((_, d), _)| d == document_id)
            .map(|((sender, _), digest)| (sender.as_str(), digest.as_str()))
    }

    /// Records that status 01 for `digest` is confirmed sent.
    pub fn answered(&mut self, digest: &str) -> io::Result<()> {
        let line = Line::Answered {
            digest: digest.to_owned(),
        };
        self.append(&line)?;
        self.apply(line);
        Ok(())
    }

    /// Number of messages received.
    pub fn len(&self) -> usize {
        self.by_digest.len()
    }

    /// True if nothing was received yet.
    pub fn is_empty(&self) -> bool {
        self.by_digest.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receive(j: &mut Journal, digest: &str) -> PathBuf {
        j.receive(&Incoming {
            kind: EntryKind::Document,
            digest,
            document_id: "D1",
            sender: "000.00.00.G22",
            folder: "inbox",
            name: &format!("{digest}.xml"),
            bytes: b"<x/>",
        })
        .unwrap()
    }

    #[test]
    fn remembers_across_restarts_even_after_the_file_is_taken() {
        let d = tempfile::tempdir().unwrap();
        let mut j = Journal::open(d.path()).unwrap();
        let path = receive(&mut j, "aa");
        j.answered("aa").unwrap();
        fs::remove_file(path).unwrap(); // the document system took it
        drop(j);
        let j = Journal::open(d.path()).unwrap();
        let e = j.get("aa").unwrap();
        assert!(e.answered);
        assert_eq!(j.document("000.00.00.G22", "D1"), Some("aa"));
    }

    #[test]
    fn completes_a_rename_interrupted_by_a_crash() {
        let d = tempfile::tempdir().unwrap();
        let mut j = Journal::open(d.path()).unwrap();
        let path = receive(&mut j, "bb");
        // Simulate the crash between journal append and rename.
        let staged = d.path().join("inbox").join(STAGING).join("bb.xml");
        fs::rename(&path, &staged).unwrap();
        drop(j);
        let j = Journal::open(d.path()).unwrap();
        assert!(path.exists());
        assert!(!staged.exists());
        assert!(j.get("bb").is_some());
    }

    #[test]
    fn a_torn_last_line_is_dropped() {
        let d = tempfile::tempdir().unwrap();
        let mut j = Journal::open(d.path()).unwrap();
        receive(&mut j, "cc");
        drop(j);
        let mut f = OpenOptions::new()
            .append(true)
            .open(d.path().join("journal.jsonl"))
            .unwrap();
        f.write_all(b"{\"op\":\"received\",\"kind\":\"docu")
            .unwrap();
        drop(f);
        let mut j = Journal::open(d.path()).unwrap();
        assert_eq!(j.len(), 1);
        receive(&mut j, "dd");
        drop(j);
        assert_eq!(Journal::open(d.path()).unwrap().len(), 2);
    }
}
