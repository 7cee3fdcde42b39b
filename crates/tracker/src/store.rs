//! Durable storage: one SQLite database (WAL mode) holding the event log,
//! which is also the axis's hash chain.
//!
//! # Why SQLite, and why only events
//!
//! SQLite is embedded (no server to run beside the tracker), crash-safe
//! with WAL, readable by `docaxis stats` and `docaxis audit verify` while
//! the tracker writes (WAL readers do not block the writer), and copied for
//! a backup with one file (`VACUUM INTO`). It is built in (`bundled`), so
//! no system library is needed.
//!
//! Only events are stored: every figure is a pure function of the event log
//! ([`crate::state`]), rebuilt by replaying it at start. There is no second
//! copy of the figures that could drift from the audited log: verifying the
//! chain verifies what every figure was computed from.
//!
//! # Deduplication
//!
//! `UNIQUE(message_id, recipient)`: the tap gives one copy of a message per
//! recipient, and a redelivered copy has the same message id (the SHA-256
//! of the signed bytes) and recipient, so `INSERT OR IGNORE` keeps exactly
//! one record of it, also across restarts.
//!
//! # The hash chain
//!
//! Record `n` carries `prev` (the hash of record `n-1`, 32 zero bytes for
//! the first) and `hash = SHA-256("docaxis-tracker-chain-v1" ‖ prev ‖ n ‖
//! every field, length-prefixed)`. Altering, inserting, deleting or
//! reordering a record breaks the chain at that point. Cutting the tail
//! leaves a valid but shorter chain, so the head (last sequence number and
//! hash) is also written, after each commit, to the `meta` table and to an
//! append-only witness file `<db>.anchors`; operators can also record the
//! head published at `/api/v1/audit/head` and check it later with
//! `docaxis audit verify --expect SEQ:HASH`. What is chained is the
//! message id (the SHA-256 of the signed payload) with what the tracker
//! read from it, not the payload: the payloads (≈10 KB each, 2.5 million a
//! month) stay with the agencies, and the id commits to them.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::state::{DocumentEvent, Event, StatusEvent, Ts};

const FORMAT: &str = "docaxis-tracker 1";
const DOMAIN: &[u8] = b"docaxis-tracker-chain-v1";

/// Storage errors.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("database: {0}")]
    Sql(#[from] rusqlite::Error),
    /// The witness file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not a tracker database.
    #[error("{0}")]
    Format(String),
}

/// One event as received: which message, for which recipient, when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Envelope message id: hex SHA-256 of the signed payload.
    pub message_id: String,
    /// The recipient of this copy (`Delivery::delivered_to`).
    pub recipient: String,
    /// When the tracker received it (Unix seconds).
    pub observed_at: Ts,
    /// What it says.
    pub event: Event,
}

/// The last record of the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// Sequence number of the last record (0: empty).
    pub seq: i64,
    /// Its hash, hex (64 zeros when empty).
    pub hash: String,
}

/// One stored event, as shown in a document's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// Position in the chain.
    pub seq: i64,
    /// Message id.
    pub message_id: String,
    /// The tap copy's recipient.
    pub recipient: String,
    /// When the tracker received it.
    pub observed_at: Ts,
    /// The event.
    pub event: Event,
}

/// What `audit verify` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditReport {
    /// No problem found.
    pub ok: bool,
    /// Records checked.
    pub records: i64,
    /// The chain's last record as recomputed.
    pub head: Head,
    /// The head the database's meta table claims.
    pub recorded_head: Option<Head>,
    /// The last head written to the witness file.
    pub anchor: Option<Head>,
    /// What is wrong (at most 20, then a count).
    pub problems: Vec<String>,
}

fn zero_hash() -> [u8; 32] {
    [0; 32]
}

fn put(h: &mut Sha256, s: &[u8]) {
    h.update((s.len() as u64).to_le_bytes());
    h.update(s);
}

/// The columns of a record, as stored and hashed.
struct Row<'a> {
    message_id: &'a str,
    recipient: &'a str,
    kind: i64,
    document_id: &'a str,
    sender: &'a str,
    other: String,
    code: i64,
    priority: i64,
    at: i64,
    description: &'a str,
    observed_at: i64,
}

impl<'a> Row<'a> {
    fn of(r: &'a Record) -> Row<'a> {
        match &r.event {
            Event::Document(d) => Row {
                message_id: &r.message_id,
                recipient: &r.recipient,
                kind: 0,
                document_id: &d.document_id,
                sender: &d.sender,
                other: d.recipients.join(" "),
                code: 0,
                priority: i64::from(d.priority),
                at: d.sent_at,
                description: "",
                observed_at: r.observed_at,
            },
            Event::Status(s) => Row {
                message_id: &r.message_id,
                recipient: &r.recipient,
                kind: 1,
                document_id: &s.document_id,
                sender: &s.from,
                other: s.original_sender.clone(),
                code: i64::from(s.code),
                priority: 0,
                at: s.at,
                description: &s.description,
                observed_at: r.observed_at,
            },
        }
    }

    fn hash(&self, prev: &[u8; 32], seq: i64) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(DOMAIN);
        h.update(prev);
        h.update(seq.to_le_bytes());
        put(&mut h, self.message_id.as_bytes());
        put(&mut h, self.recipient.as_bytes());
        h.update(self.kind.to_le_bytes());
        put(&mut h, self.document_id.as_bytes());
        put(&mut h, self.sender.as_bytes());
        put(&mut h, self.other.as_bytes());
        h.update(self.code.to_le_bytes());
        h.update(self.priority.to_le_bytes());
        h.update(self.at.to_le_bytes());
        put(&mut h, self.description.as_bytes());
        h.update(self.observed_at.to_le_bytes());
        h.finalize().into()
    }
}

#[allow(clippy::too_many_arguments)]
fn event_of(
    kind: i64,
    document_id: String,
    sender: String,
    other: String,
    code: i64,
    priority: i64,
    at: i64,
    description: String,
) -> Event {
    if kind == 0 {
        Event::Document(DocumentEvent {
            document_id,
            sender,
            recipients: other
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
            priority: priority.clamp(0, 4) as u8,
            sent_at: at,
        })
    } else {
        Event::Status(StatusEvent {
            document_id,
            original_sender: other,
            from: sender,
            code: code.clamp(0, 255) as u8,
            description,
            at,
        })
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events(
  seq INTEGER PRIMARY KEY,
  message_id TEXT NOT NULL,
  recipient TEXT NOT NULL,
  kind INTEGER NOT NULL,
  document_id TEXT NOT NULL,
  sender TEXT NOT NULL,
  other TEXT NOT NULL,
  code INTEGER NOT NULL,
  priority INTEGER NOT NULL,
  at INTEGER NOT NULL,
  description TEXT NOT NULL,
  observed_at INTEGER NOT NULL,
  prev BLOB NOT NULL,
  hash BLOB NOT NULL,
  UNIQUE(message_id, recipient)
);
CREATE INDEX IF NOT EXISTS events_document ON events(document_id);
";

/// Path of the witness file of `db`.
pub fn anchors_path(db: &Path) -> PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push(".anchors");
    PathBuf::from(s)
}

/// The writer: owns the database and the chain head.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    seq: i64,
    hash: [u8; 32],
    anchors: File,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("seq", &self.seq)
            .finish()
    }
}

impl Store {
    /// Open (creating if needed) the database at `path`. With `durable`,
    /// every commit is fsync-ed (`synchronous=FULL`), so an acknowledged
    /// event survives a power cut; without, only a process crash.
    pub fn open(path: &Path, durable: bool) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", if durable { "FULL" } else { "NORMAL" })?;
        conn.pragma_update(None, "busy_timeout", 5000)?;
        conn.execute_batch(SCHEMA)?;
        let format: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE key='format'", [], |r| {
                r.get(0)
            })
            .optional()?;
        match format.as_deref() {
            None => {
                conn.execute(
                    "INSERT INTO meta(key, value) VALUES('format', ?1)",
                    [FORMAT],
                )?;
            }
            Some(FORMAT) => {}
            Some(other) => {
                return Err(StoreError::Format(format!(
                    "{}: unknown format {other:?}",
                    path.display()
                )))
            }
        }
        let last: Option<(i64, Vec<u8>)> = conn
            .query_row(
                "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let (seq, hash) = match last {
            Some((s, h)) => (
                s,
                h.try_into()
                    .map_err(|_| StoreError::Format("bad hash length".into()))?,
            ),
            None => (0, zero_hash()),
        };
        let apath = anchors_path(path);
        let anchors = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&apath)
            .map_err(|source| StoreError::Io {
                path: apath,
                source,
            })?;
        Ok(Store {
            conn,
            path: path.to_path_buf(),
            seq,
            hash,
            anchors,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The chain's last record.
    pub fn head(&self) -> Head {
        Head {
            seq: self.seq,
            hash: hex::encode(self.hash),
        }
    }

    /// Append `records` in one transaction. Returns, for each, whether it
    /// was new (`false`: already stored, a redelivery). Nothing is stored
    /// if it fails; once it returns `Ok` the records are committed.
    pub fn append(&mut self, records: &[Record]) -> Result<Vec<bool>, StoreError> {
        let mut fresh = Vec::with_capacity(records.len());
        let (mut seq, mut hash) = (self.seq, self.hash);
        let tx = self.conn.transaction()?;
        {
            let mut ins = tx.prepare_cached(
                "INSERT OR IGNORE INTO events(seq, message_id, recipient, kind, document_id, sender, other, code, priority, at, description, observed_at, prev, hash)
                 VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            )?;
            for r in records {
                let row = Row::of(r);
                let next = row.hash(&hash, seq + 1);
                let n = ins.execute(params![
                    seq + 1,
                    row.message_id,
                    row.recipient,
                    row.kind,
                    row.document_id,
                    row.sender,
                    row.other,
                    row.code,
                    row.priority,
                    row.at,
                    row.description,
                    row.observed_at,
                    &hash[..],
                    &next[..],
                ])?;
                if n == 1 {
                    seq += 1;
                    hash = next;
                }
                fresh.push(n == 1);
            }
            if seq != self.seq {
                let mut meta =
                    tx.prepare_cached("INSERT OR REPLACE INTO meta(key, value) VALUES(?1, ?2)")?;
                meta.execute(params!["head_seq", seq.to_string()])?;
                meta.execute(params!["head_hash", hex::encode(hash)])?;
            }
        }
        tx.commit()?;
        if seq != self.seq {
            self.seq = seq;
            self.hash = hash;
            // The witness trails the database (written after the commit):
            // a crash in between leaves it one batch behind, never ahead.
            let line = format!("{} {} {}\n", seq, hex::encode(hash), now());
            if let Err(e) = self.anchors.write_all(line.as_bytes()) {
                tracing::warn!(error = %e, "could not append to the anchors file");
            }
        }
        Ok(fresh)
    }

    /// Feed every stored event, in chain order, to `f`. Returns how many.
    pub fn replay(&self, f: impl FnMut(Event)) -> Result<u64, StoreError> {
        replay(&self.conn, f)
    }

    /// Every stored event about `document_id`, in chain order.
    pub fn history(&self, document_id: &str) -> Result<Vec<HistoryEntry>, StoreError> {
        history(&self.conn, document_id)
    }
}

/// Unix time now.
pub fn now() -> Ts {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Open `path` read-only (for queries beside the writer, `stats`, `audit`).
pub fn open_read(path: &Path) -> Result<Connection, StoreError> {
    if !path.exists() {
        return Err(StoreError::Format(format!(
            "{}: no such database",
            path.display()
        )));
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )?;
    conn.pragma_update(None, "busy_timeout", 5000)?;
    let format: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key='format'", [], |r| {
            r.get(0)
        })
        .optional()
        .map_err(|e| {
            StoreError::Format(format!("{}: not a tracker database ({e})", path.display()))
        })?;
    if format.as_deref() != Some(FORMAT) {
        return Err(StoreError::Format(format!(
            "{}: not a tracker database",
            path.display()
        )));
    }
    Ok(conn)
}

/// Feed every event of `conn`, in chain order, to `f`.
pub fn replay(conn: &Connection, mut f: impl FnMut(Event)) -> Result<u64, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT kind, document_id, sender, other, code, priority, at, description FROM events ORDER BY seq",
    )?;
    let mut rows = stmt.query([])?;
    let mut n = 0;
    while let Some(r) = rows.next()? {
        f(event_of(
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
            r.get(7)?,
        ));
        n += 1;
    }
    Ok(n)
}

/// Every event of `conn` about `document_id`, in chain order.
pub fn history(conn: &Connection, document_id: &str) -> Result<Vec<HistoryEntry>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, message_id, recipient, observed_at, kind, document_id, sender, other, code, priority, at, description
         FROM events WHERE document_id = ?1 ORDER BY seq",
    )?;
    let rows = stmt.query_map([document_id], |r| {
        Ok(HistoryEntry {
            seq: r.get(0)?,
            message_id: r.get(1)?,
            recipient: r.get(2)?,
            observed_at: r.get(3)?,
            event: event_of(
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
                r.get(9)?,
                r.get(10)?,
                r.get(11)?,
            ),
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Parse `SEQ:HASH`.
pub fn parse_head(s: &str) -> Option<Head> {
    let (seq, hash) = s.split_once(':')?;
    let seq = seq.trim().parse().ok()?;
    let hash = hash.trim().to_ascii_lowercase();
    (hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit())).then_some(Head { seq, hash })
}

/// Recompute the whole chain of the database at `path` and compare its
/// head with the meta table, the witness file and `expect` (a head recorded
/// earlier). Detects altered, inserted, deleted and reordered records, and
/// a cut tail (as long as one of the recorded heads is beyond the cut).
pub fn verify(path: &Path, expect: Option<&Head>) -> Result<AuditReport, StoreError> {
    let conn = open_read(path)?;
    let mut problems = Vec::new();
    let mut extra = 0u64;
    let mut report = |p: String, problems: &mut Vec<String>| {
        if problems.len() < 20 {
            problems.push(p);
        } else {
            extra += 1;
        }
    };
    // The witness file first, then one read transaction for the meta head
    // and the chain: with the tracker running, both are then at least as
    // new as the witness, and the meta head is the chain's own snapshot.
    let anchor = last_anchor(&anchors_path(path));
    conn.execute_batch("BEGIN")?;
    let recorded_head: Option<Head> = {
        let get = |k: &str| -> Result<Option<String>, rusqlite::Error> {
            conn.query_row("SELECT value FROM meta WHERE key=?1", [k], |r| r.get(0))
                .optional()
        };
        match (get("head_seq")?, get("head_hash")?) {
            (Some(s), Some(h)) => Some(Head {
                seq: s.parse().unwrap_or(-1),
                hash: h,
            }),
            _ => None,
        }
    };
    let mut checkpoints: Vec<(&str, Head)> = Vec::new();
    if let Some(h) = &recorded_head {
        checkpoints.push(("the database's recorded head", h.clone()));
    }
    if let Some(h) = &anchor {
        checkpoints.push(("the anchors file", h.clone()));
    }
    if let Some(h) = expect {
        checkpoints.push(("the expected head", h.clone()));
    }
    let mut stmt = conn.prepare(
        "SELECT seq, message_id, recipient, kind, document_id, sender, other, code, priority, at, description, observed_at, prev, hash
         FROM events ORDER BY seq",
    )?;
    let mut rows = stmt.query([])?;
    let mut expected_seq = 1i64;
    let mut prev = zero_hash();
    let mut records = 0i64;
    let mut hashes_at_checkpoints: Vec<Option<String>> = vec![None; checkpoints.len()];
    while let Some(r) = rows.next()? {
        records += 1;
        let seq: i64 = r.get(0)?;
        let message_id: String = r.get(1)?;
        let recipient: String = r.get(2)?;
        let document_id: String = r.get(4)?;
        let sender: String = r.get(5)?;
        let description: String = r.get(10)?;
        let row = Row {
            message_id: &message_id,
            recipient: &recipient,
            kind: r.get(3)?,
            document_id: &document_id,
            sender: &sender,
            other: r.get(6)?,
            code: r.get(7)?,
            priority: r.get(8)?,
            at: r.get(9)?,
            description: &description,
            observed_at: r.get(11)?,
        };
        let stored_prev: Vec<u8> = r.get(12)?;
        let stored_hash: Vec<u8> = r.get(13)?;
        if seq != expected_seq {
            report(
                format!("record {seq}: expected sequence number {expected_seq} (records missing or inserted)"),
                &mut problems,
            );
        }
        if stored_prev != prev {
            report(
                format!("record {seq}: its previous-hash does not match the record before it (a record was removed, inserted or altered)"),
                &mut problems,
            );
        }
        let computed = row.hash(&prev, seq);
        if stored_hash != computed {
            report(
                format!("record {seq}: content does not match its hash (altered)"),
                &mut problems,
            );
        }
        for (i, (_, h)) in checkpoints.iter().enumerate() {
            if h.seq == seq {
                hashes_at_checkpoints[i] = Some(hex::encode(computed));
            }
        }
        // Continue the chain on the stored hash, so one altered record is
        // reported once rather than breaking every later one.
        prev = stored_hash.try_into().unwrap_or_else(|_| zero_hash());
        expected_seq = seq + 1;
    }
    let head = Head {
        seq: expected_seq - 1,
        hash: hex::encode(prev),
    };
    for (i, (what, h)) in checkpoints.iter().enumerate() {
        if h.seq > head.seq {
            report(
                format!(
                    "{what} is record {} but the chain ends at record {} (truncated)",
                    h.seq, head.seq
                ),
                &mut problems,
            );
        } else if h.seq > 0 && hashes_at_checkpoints[i].as_deref() != Some(h.hash.as_str()) {
            report(
                format!(
                    "{what} (record {}, hash {}) is not in the chain (rewritten)",
                    h.seq, h.hash
                ),
                &mut problems,
            );
        }
    }
    if let Some(h) = &recorded_head {
        if h.seq < head.seq {
            report(
                format!(
                    "the database's recorded head is record {} but the chain has {} records",
                    h.seq, head.seq
                ),
                &mut problems,
            );
        }
    }
    if extra > 0 {
        problems.push(format!("… and {extra} more problems"));
    }
    Ok(AuditReport {
        ok: problems.is_empty(),
        records,
        head,
        recorded_head,
        anchor,
        problems,
    })
}

/// The last well-formed line of the witness file.
fn last_anchor(path: &Path) -> Option<Head> {
    let f = File::open(path).ok()?;
    let mut last = None;
    for line in BufReader::new(f).lines().map_while(Result::ok) {
        let mut it = line.split_whitespace();
        if let (Some(s), Some(h)) = (it.next(), it.next()) {
            if let Some(head) = parse_head(&format!("{s}:{h}")) {
                last = Some(head);
            }
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(i: u32) -> Record {
        Record {
            message_id: format!("{i:064x}"),
            recipient: "B".into(),
            observed_at: 5,
            event: Event::Document(DocumentEvent {
                document_id: format!("D{i}"),
                sender: "A".into(),
                recipients: vec!["B".into(), "C".into()],
                priority: 1,
                sent_at: 100,
            }),
        }
    }

    #[test]
    fn dedup_replay_and_chain() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("t.db");
        let mut s = Store::open(&db, false).unwrap();
        assert_eq!(
            s.append(&[rec(1), rec(2), rec(1)]).unwrap(),
            vec![true, true, false]
        );
        drop(s);
        let mut s = Store::open(&db, false).unwrap();
        assert_eq!(s.append(&[rec(2), rec(3)]).unwrap(), vec![false, true]);
        let mut got = Vec::new();
        s.replay(|e| got.push(e)).unwrap();
        assert_eq!(got, vec![rec(1).event, rec(2).event, rec(3).event]);
        assert_eq!(s.history("D2").unwrap().len(), 1);
        let head = s.head();
        drop(s);
        let ok = verify(&db, Some(&head)).unwrap();
        assert!(ok.ok, "{:?}", ok.problems);
        assert_eq!(ok.records, 3);

        // Alter a record.
        let c = Connection::open(&db).unwrap();
        c.execute("UPDATE events SET priority=0 WHERE seq=2", [])
            .unwrap();
        let bad = verify(&db, None).unwrap();
        assert!(!bad.ok);
        assert!(bad.problems[0].contains("record 2"), "{:?}", bad.problems);
        c.execute("UPDATE events SET priority=1 WHERE seq=2", [])
            .unwrap();
        assert!(verify(&db, None).unwrap().ok);

        // Cut the tail, and even fix the meta head: the witness file and
        // the expected head still catch it.
        c.execute("DELETE FROM events WHERE seq=3", []).unwrap();
        let cut = verify(&db, Some(&head)).unwrap();
        assert!(!cut.ok);
        assert!(
            cut.problems.iter().any(|p| p.contains("truncated")),
            "{:?}",
            cut.problems
        );
    }
}
