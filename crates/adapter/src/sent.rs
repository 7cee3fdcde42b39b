//! The sender's records: `sent/<stem>.xml` (the signed document as
//! published) and `sent/<stem>.json` (when, to whom, and every status heard
//! back), kept up to date atomically.
//!
//! The store is shared by every document in flight: the index is locked
//! only to look a stem up, and a record's read-modify-write holds the lock
//! of its stripe (one of [`STRIPES`], by DocumentId), so writes of
//! different documents run — and fsync — at the same time while two
//! statuses about one document never lose each other's update.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::hash::{Hash, Hasher};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

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

/// Number of record locks.
pub const STRIPES: usize = 64;

/// The `sent/` folder.
#[derive(Debug)]
pub struct SentStore {
    dir: PathBuf,
    /// DocumentId → file stem.
    by_document: Mutex<HashMap<String, String>>,
    stripes: Vec<Mutex<()>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl SentStore {
    /// Opens `dir`, indexing the records already there.
    pub fn open(dir: &Path) -> io::Result<SentStore> {
        fs::create_dir_all(dir)?;
        let mut by_document = HashMap::new();
        for entry in fs::read_dir(dir)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "json") {
                let record: SentRecord = serde_json::from_slice(&fs::read(&path)?)
                    .map_err(|e| io::Error::other(format!("{}: {e}", path.display())))?;
                let stem = path
                    .file_stem()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                by_document.insert(record.document_id, stem);
            }
        }
        Ok(SentStore {
            dir: dir.to_owned(),
            by_document: Mutex::new(by_document),
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
        })
    }

    /// The lock serializing updates of `document_id`'s record.
    fn stripe(&self, document_id: &str) -> MutexGuard<'_, ()> {
        let mut h = DefaultHasher::new();
        document_id.hash(&mut h);
        lock(&self.stripes[h.finish() as usize % STRIPES])
    }

    fn stem(&self, document_id: &str) -> Option<String> {
        lock(&self.by_document).get(document_id).cloned()
    }

    /// True if `document_id` was already sent.
    pub fn contains(&self, document_id: &str) -> bool {
        lock(&self.by_document).contains_key(document_id)
    }

    /// Records a document about to be published: writes the signed bytes,
    /// then the record, before the first publish, so that statuses which
    /// arrive very fast always find their record and a crash never makes
    /// the adapter sign a second, different version.
    pub fn create(&self, stem: &str, signed: &[u8], record: &SentRecord) -> io::Result<()> {
        let _g = self.stripe(&record.document_id);
        // One directory fsync (in `save`) makes both names durable.
        fsio::write_atomic_undurable_name(&self.dir, &format!("{stem}.xml"), signed)?;
        self.save(stem, record)?;
        lock(&self.by_document).insert(record.document_id.clone(), stem.to_owned());
        Ok(())
    }

    fn save(&self, stem: &str, record: &SentRecord) -> io::Result<()> {
        let json = serde_json::to_vec_pretty(record).map_err(io::Error::other)?;
        fsio::write_atomic(&self.dir, &format!("{stem}.json"), &json)?;
        Ok(())
    }

    /// The record of `document_id`.
    pub fn get(&self, document_id: &str) -> io::Result<Option<SentRecord>> {
        let Some(stem) = self.stem(document_id) else {
            return Ok(None);
        };
        let bytes = fs::read(self.dir.join(format!("{stem}.json")))?;
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(io::Error::other)
    }

    /// The signed bytes of `document_id`.
    pub fn signed_bytes(&self, document_id: &str) -> io::Result<Option<Vec<u8>>> {
        match self.stem(document_id) {
            Some(stem) => fs::read(self.dir.join(format!("{stem}.xml"))).map(Some),
            None => Ok(None),
        }
    }

    /// Marks `document_id` confirmed by the axis at `sent_at`, noting the
    /// recipients the axis could not route to.
    pub fn confirm(
        &self,
        document_id: &str,
        sent_at: String,
        unroutable: &[String],
    ) -> io::Result<()> {
        let _g = self.stripe(document_id);
        let Some(mut record) = self.get(document_id)? else {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no record of {document_id}"),
            ));
        };
        record.sent_at = Some(sent_at);
        for r in unroutable {
            record.recipients.entry(r.clone()).or_default().unroutable = true;
        }
        let stem = self.stem(document_id).unwrap_or_default();
        self.save(&stem, &record)
    }

    /// DocumentIds of records not yet confirmed by the axis.
    pub fn unconfirmed(&self) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        let ids: Vec<String> = lock(&self.by_document).keys().cloned().collect();
        for id in &ids {
            if self.get(id)?.is_some_and(|r| r.sent_at.is_none()) {
                out.push(id.clone());
            }
        }
        Ok(out)
    }

    /// Adds a status from `recipient` to the record of `document_id`.
    /// Returns false if no such document was sent.
    pub fn add_status(
        &self,
        document_id: &str,
        recipient: &str,
        seen: StatusSeen,
    ) -> io::Result<bool> {
        let _g = self.stripe(document_id);
        let Some(mut record) = self.get(document_id)? else {
            return Ok(false);
        };
        let state = record.recipients.entry(recipient.to_owned()).or_default();
        // At-least-once delivery can bring the same status twice (a
        // receiver that crashed after sending 01 sends it again, with a new
        // timestamp): a code with the same description is kept once, at
        // its first time.
        if !state
            .statuses
            .iter()
            .any(|s| s.code == seen.code && s.description == seen.description)
        {
            state.statuses.push(seen);
        }
        let stem = self.stem(document_id).unwrap_or_default();
        self.save(&stem, &record)?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> SentRecord {
        SentRecord {
            document_id: "D1".into(),
            message_id: "ab".into(),
            sent_at: Some("2022-07-01T08:30:00+07:00".into()),
            source: "cv.xml".into(),
            recipients: [("000.00.00.G12".to_owned(), RecipientState::default())].into(),
        }
    }

    #[test]
    fn statuses_accumulate_once_each_and_survive_reopening() {
        let d = tempfile::tempdir().unwrap();
        let s = SentStore::open(d.path()).unwrap();
        s.create("d1", b"<x/>", &record()).unwrap();
        let seen = StatusSeen {
            code: "01".into(),
            label: "arrived".into(),
            at: "2022/07/01 08:31:00".into(),
            description: String::new(),
        };
        assert!(s.add_status("D1", "000.00.00.G12", seen.clone()).unwrap());
        let later = StatusSeen {
            at: "2022/07/01 08:32:00".into(),
            ..seen.clone()
        };
        assert!(s.add_status("D1", "000.00.00.G12", later).unwrap());
        assert!(!s.add_status("D2", "000.00.00.G12", seen).unwrap());
        let s = SentStore::open(d.path()).unwrap();
        let r = s.get("D1").unwrap().unwrap();
        assert_eq!(r.recipients["000.00.00.G12"].statuses.len(), 1);
    }
}
