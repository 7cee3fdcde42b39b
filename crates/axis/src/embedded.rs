//! The embedded axis: the same semantics as RabbitMQ, on one machine, with
//! plain files.
//!
//! # Layout
//!
//! ```text
//! <root>/FORMAT                       "docaxis-embedded-axis 1"
//! <root>/tmp/                         files being written (invisible to consumers)
//! <root>/owners/<token>.lock          one per open axis instance, flock-ed while alive
//! <root>/queues/<queue>/new/<seq>~<n>           ready, delivered n times so far
//! <root>/queues/<queue>/cur/<seq>~<n>~<token>   claimed by the owner <token>
//! ```
//!
//! Queues are `in.<agency>` (inbox), `dlq.<agency>`, `tap` and `tap.dlq`.
//!
//! # Why one file per message
//!
//! Every step is a single atomic file-system operation, so several
//! processes can share one directory without a lock server and a SIGKILL at
//! any point leaves a consistent state:
//!
//! * **publish**: write `tmp/<seq>`, `fsync` it, hard-link it into the `new/`
//!   directory of every recipient's inbox and of the tap, `fsync` those
//!   directories, unlink the tmp name. Only then is the publish confirmed.
//!   Hard links mean the payload is written and synced once whatever the
//!   number of recipients; each link is an independent queue entry.
//! * **claim**: `rename(new/<seq>~n, cur/<seq>~n+1~<token>)`. Rename is
//!   atomic: of two racing consumers exactly one wins.
//! * **ack**: unlink the claim. **retry**: rename it back to `new/`
//!   (keeping its name, hence its place in the order). **refuse**: write a
//!   copy with the reason into the dead-letter queue (tmp + fsync + link),
//!   then unlink the claim.
//! * **crash recovery**: a claim whose owner's lock file is no longer
//!   flock-ed (the kernel drops flocks when a process dies, even on SIGKILL)
//!   is renamed back to `new/`, counting as a delivery, so a message that
//!   kills its consumer every time still ends in the dead-letter queue.
//!
//! `<seq>` is `<nanoseconds since epoch, strictly increasing in the
//! process>-<pid>`; consumers take messages in name order, which gives
//! per-(sender, recipient) order for a sender publishing from one process.
//! Publishes of one process are serialized (an in-process FIFO lock) so that
//! a later publish never becomes visible before an earlier one.
//!
//! The price is one `fsync` of a file plus one per target directory per
//! publish: hundreds of messages per second on ordinary disks, far above the
//! real axis's average of a few documents per second, and not meant to
//! replace the broker for a national deployment.

use std::collections::{HashMap, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::api::{Outcome, Settle, Source};
use crate::{
    validate_agency_id, Axis, AxisError, Consumer, DeadLetter, Delivery, Envelope, Kind,
    PublishReceipt,
};

/// Reason recorded when a message is dead-lettered for too many deliveries
/// (the same word RabbitMQ uses in `x-death`).
pub const DELIVERY_LIMIT_REASON: &str = "delivery_limit";

const FORMAT: &str = "docaxis-embedded-axis 1\n";

/// Options of an [`EmbeddedAxis`].
#[derive(Debug, Clone)]
pub struct EmbeddedOptions {
    /// A message delivered this many times without ack goes to the
    /// dead-letter queue (same meaning as [`crate::RabbitOptions::max_deliveries`]).
    pub max_deliveries: u32,
    /// Longest pause between two looks at an empty queue.
    pub max_poll_interval: Duration,
    /// Whether to fsync (tests of crash safety need it; turning it off is
    /// only for throw-away demos on slow disks).
    pub fsync: bool,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        EmbeddedOptions {
            max_deliveries: 20,
            max_poll_interval: Duration::from_millis(50),
            fsync: true,
        }
    }
}

/// Metadata stored in the first line of a message file.
#[derive(Debug, Serialize, Deserialize)]
struct Meta {
    kind: String,
    sender: String,
    recipients: Vec<String>,
    key_id: String,
    /// Hex SHA-256 of the payload, for people reading the files; never
    /// read back (receivers compute it from the payload: see `Envelope`).
    #[serde(default)]
    digest: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dead_letter_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dead_letter_queue_of: Option<String>,
}

/// What a queue is, for naming and dead-lettering.
#[derive(Debug, Clone)]
struct QueueSpec {
    /// Directory name under `queues/`.
    name: String,
    /// Agency (or `tracker`) reported in `Delivery::delivered_to`.
    owner: String,
    /// Dead-letter queue directory, `None` for dead-letter queues themselves.
    dlq: Option<String>,
}

impl QueueSpec {
    fn inbox(agency: &str) -> QueueSpec {
        QueueSpec {
            name: format!("in.{agency}"),
            owner: agency.to_string(),
            dlq: Some(format!("dlq.{agency}")),
        }
    }
    fn dlq(agency: &str) -> QueueSpec {
        QueueSpec {
            name: format!("dlq.{agency}"),
            owner: agency.to_string(),
            dlq: None,
        }
    }
    fn tap() -> QueueSpec {
        QueueSpec {
            name: "tap".into(),
            owner: "tracker".into(),
            dlq: Some("tap.dlq".into()),
        }
    }
}

struct Inner {
    root: PathBuf,
    opts: EmbeddedOptions,
    /// Token naming this instance's claims; its lock file is held by `_lock`.
    token: String,
    _lock: File,
    /// Serializes publishes of this instance so they become visible in call order.
    publish_lock: tokio::sync::Mutex<()>,
}

/// A single-machine axis stored under a directory (see the module docs).
///
/// Cheap to clone; clones share the owner lock.
#[derive(Clone)]
pub struct EmbeddedAxis {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for EmbeddedAxis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedAxis")
            .field("root", &self.inner.root)
            .field("token", &self.inner.token)
            .finish()
    }
}

static LAST_NANOS: AtomicU64 = AtomicU64::new(0);

/// Strictly increasing (within the process) nanosecond stamp.
fn next_stamp() -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut last = LAST_NANOS.load(Ordering::Relaxed);
    loop {
        let next = now.max(last + 1);
        match LAST_NANOS.compare_exchange_weak(last, next, Ordering::SeqCst, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

fn sync_dir(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()
}

/// Parse `<seq>~<n>` or `<seq>~<n>~<token>`.
fn parse_name(name: &str) -> Option<(&str, u32, Option<&str>)> {
    let mut parts = name.splitn(3, '~');
    let seq = parts.next()?;
    let n = parts.next()?.parse().ok()?;
    Some((seq, n, parts.next()))
}

impl EmbeddedAxis {
    /// Open (creating if needed) the axis stored under `root`.
    pub fn open(root: impl AsRef<Path>, opts: EmbeddedOptions) -> Result<EmbeddedAxis, AxisError> {
        let root = root.as_ref().to_path_buf();
        for d in ["tmp", "owners", "queues"] {
            fs::create_dir_all(root.join(d))?;
        }
        let format = root.join("FORMAT");
        match fs::read_to_string(&format) {
            Ok(s) if s == FORMAT => {}
            Ok(s) => {
                return Err(AxisError::Io(io::Error::other(format!(
                    "{} holds an unknown format {s:?}",
                    root.display()
                ))))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                write_durably(&root, "FORMAT.tmp", FORMAT.as_bytes(), true)?;
                fs::rename(root.join("tmp").join("FORMAT.tmp"), &format)?;
            }
            Err(e) => return Err(e.into()),
        }
        // Create the lock file under tmp/, lock it, then rename it into
        // owners/: it appears already locked, so no other process can
        // mistake this live instance for a dead one.
        let token = format!("{}-{}", std::process::id(), next_stamp());
        let tmp = root.join("tmp").join(format!("owner-{token}"));
        let lock = OpenOptions::new().create_new(true).write(true).open(&tmp)?;
        lock.lock()?;
        fs::rename(&tmp, root.join("owners").join(format!("{token}.lock")))?;
        Ok(EmbeddedAxis {
            inner: Arc::new(Inner {
                root,
                opts,
                token,
                _lock: lock,
                publish_lock: tokio::sync::Mutex::new(()),
            }),
        })
    }

    /// The directory this axis lives in.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// Test support: release this instance's owner lock as if the process
    /// had been killed, so that other instances recover its claims. The
    /// instance must not be used afterwards.
    #[doc(hidden)]
    pub fn simulate_crash(&self) {
        let _ = self.inner._lock.unlock();
    }

    /// Number of messages waiting (ready, not claimed) in the inbox of `agency`.
    pub fn ready_count(&self, agency: &str) -> Result<usize, AxisError> {
        validate_agency_id(agency)?;
        Ok(fs::read_dir(
            self.inner
                .queue_dir(&QueueSpec::inbox(agency).name)
                .join("new"),
        )?
        .count())
    }

    async fn consumer(&self, spec: QueueSpec) -> Result<Consumer, AxisError> {
        let dir = self.inner.queue_dir(&spec.name);
        if !dir.is_dir() {
            return Err(AxisError::Broker(format!(
                "no queue {} (run setup for this agency first)",
                spec.name
            )));
        }
        Ok(Consumer {
            source: Box::new(FileSource {
                claim: None,
                inner: self.inner.clone(),
                spec,
                pending: VecDeque::new(),
                last_recovery: None,
                poll: Duration::from_millis(1),
            }),
        })
    }
}

/// Write `data` to `<root>/tmp/<name>`, optionally fsync-ed.
fn write_durably(root: &Path, name: &str, data: &[u8], fsync: bool) -> io::Result<PathBuf> {
    let path = root.join("tmp").join(name);
    let mut f = File::create(&path)?;
    f.write_all(data)?;
    if fsync {
        f.sync_all()?;
    }
    Ok(path)
}

fn encode(meta: &Meta, payload: &[u8]) -> Vec<u8> {
    let mut buf = serde_json::to_vec(meta).expect("metadata serializes");
    buf.push(b'\n');
    buf.extend_from_slice(payload);
    buf
}

impl Inner {
    fn queue_dir(&self, queue: &str) -> PathBuf {
        self.root.join("queues").join(queue)
    }

    fn ensure_queue(&self, queue: &str) -> io::Result<()> {
        let dir = self.queue_dir(queue);
        fs::create_dir_all(dir.join("new"))?;
        fs::create_dir_all(dir.join("cur"))
    }

    /// Blocking publish (runs on the blocking pool).
    fn publish_blocking(&self, env: &Envelope) -> Result<PublishReceipt, AxisError> {
        let mut delivered = Vec::new();
        let mut unroutable = Vec::new();
        let mut targets = Vec::new();
        for r in env.recipients() {
            let q = self.queue_dir(&QueueSpec::inbox(r).name);
            if q.is_dir() {
                delivered.push(r.clone());
                targets.push(q);
            } else {
                unroutable.push(r.clone());
            }
        }
        if !targets.is_empty() {
            let meta = Meta {
                kind: env.kind().as_str().into(),
                sender: env.sender().into(),
                recipients: env.recipients().to_vec(),
                key_id: env.key_id().into(),
                digest: env.digest().into(),
                dead_letter_reason: None,
                dead_letter_queue_of: None,
            };
            let seq = format!("{:020}-{}", next_stamp(), std::process::id());
            let tmp = write_durably(
                &self.root,
                &seq,
                &encode(&meta, env.payload()),
                self.opts.fsync,
            )?;
            // The tap gets one copy per delivered recipient, as with
            // RabbitMQ; the recipient is kept in the entry's name.
            let tap = self.queue_dir(&QueueSpec::tap().name);
            let mut links: Vec<(PathBuf, String)> = targets
                .iter()
                .map(|q| (q.clone(), format!("{seq}~0")))
                .collect();
            if tap.is_dir() {
                for r in &delivered {
                    links.push((tap.clone(), format!("{seq}@{r}~0")));
                }
            }
            for (q, name) in &links {
                fs::hard_link(&tmp, q.join("new").join(name))?;
            }
            if self.opts.fsync {
                let mut done: Vec<&PathBuf> = Vec::new();
                for (q, _) in &links {
                    if !done.contains(&q) {
                        sync_dir(&q.join("new"))?;
                        done.push(q);
                    }
                }
            }
            fs::remove_file(&tmp)?;
        }
        if unroutable.is_empty() {
            Ok(PublishReceipt {
                message_id: env.message_id().into(),
                delivered,
            })
        } else {
            Err(AxisError::Unroutable {
                message_id: env.message_id().into(),
                unroutable,
                delivered,
            })
        }
    }

    /// Move a claimed file into the dead-letter queue `dlq` with `reason`.
    fn dead_letter(
        &self,
        claim: &Path,
        seq: &str,
        dlq: &str,
        queue_of: &str,
        reason: &str,
    ) -> Result<(), AxisError> {
        let data = fs::read(claim)?;
        let split = data
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| AxisError::InvalidEnvelope("message file without metadata".into()))?;
        let mut meta: Meta = serde_json::from_slice(&data[..split])
            .map_err(|e| AxisError::InvalidEnvelope(e.to_string()))?;
        meta.dead_letter_reason = Some(reason.to_string());
        meta.dead_letter_queue_of = Some(queue_of.to_string());
        let tmp_name = format!("dl-{seq}-{}", next_stamp());
        let tmp = write_durably(
            &self.root,
            &tmp_name,
            &encode(&meta, &data[split + 1..]),
            self.opts.fsync,
        )?;
        let target = self.queue_dir(dlq).join("new");
        // A previous attempt may have linked it already before a crash.
        match fs::hard_link(&tmp, target.join(format!("{seq}~0"))) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e.into()),
        }
        if self.opts.fsync {
            sync_dir(&target)?;
        }
        fs::remove_file(&tmp)?;
        fs::remove_file(claim)?;
        Ok(())
    }

    /// Put claims of dead owners back into `new/`.
    fn recover_stale(&self, queue: &str) -> io::Result<()> {
        let cur = self.queue_dir(queue).join("cur");
        let mut verdict: HashMap<String, bool> = HashMap::new();
        for entry in fs::read_dir(&cur)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            let Some((seq, n, Some(owner))) = parse_name(&name) else {
                continue;
            };
            if owner == self.token {
                continue;
            }
            let dead = *verdict
                .entry(owner.to_string())
                .or_insert_with(|| owner_is_dead(&self.root, owner));
            if dead {
                let back = self.queue_dir(queue).join("new").join(format!("{seq}~{n}"));
                match fs::rename(cur.join(&name), back) {
                    Ok(()) => tracing::info!(queue, seq, "recovered claim of a dead consumer"),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }
}

/// An owner is dead when its lock file is gone or can be locked by us.
fn owner_is_dead(root: &Path, owner: &str) -> bool {
    let path = root.join("owners").join(format!("{owner}.lock"));
    match File::open(&path) {
        Err(_) => true,
        Ok(f) => match f.try_lock() {
            Ok(()) => {
                // Dead: remove its lock file (we hold the lock, so no new
                // owner can be using this name).
                let _ = fs::remove_file(&path);
                true
            }
            Err(_) => false,
        },
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Clean exit: the lock is released when `_lock` closes; removing the
        // file lets others skip the check. Claims still held are given back
        // by their Delivery's drop, or recovered by the next consumer.
        let _ = fs::remove_file(
            self.root
                .join("owners")
                .join(format!("{}.lock", self.token)),
        );
    }
}

struct FileSource {
    inner: Arc<Inner>,
    spec: QueueSpec,
    pending: VecDeque<String>,
    last_recovery: Option<Instant>,
    poll: Duration,
    /// A claim running on the blocking pool. Kept here, not in the `next`
    /// future, so that `next` is cancel-safe: a caller that drops `next`
    /// (e.g. in `tokio::select!`) picks the same claim up on its next call
    /// instead of abandoning a message it already took (which would count
    /// a delivery and, repeated, push it to the dead-letter queue).
    claim: Option<tokio::task::JoinHandle<Claimed>>,
}

/// What a claim on the blocking pool hands back: the scan state and the
/// delivery, if there was one.
type Claimed = (FileSource, Result<Option<Delivery>, AxisError>);

/// One claimed file.
struct FileClaim {
    inner: Arc<Inner>,
    spec: QueueSpec,
    seq: String,
    deliveries: u32,
    path: PathBuf,
}

impl FileClaim {
    fn settle_blocking(&self, outcome: Outcome) -> Result<(), AxisError> {
        match outcome {
            Outcome::Ack => match fs::remove_file(&self.path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Err(AxisError::DeliveryStale),
                Err(e) => Err(e.into()),
            },
            Outcome::Retry => match &self.spec.dlq {
                Some(dlq) if self.deliveries >= self.inner.opts.max_deliveries => {
                    self.inner.dead_letter(
                        &self.path,
                        &self.seq,
                        dlq,
                        &self.spec.owner,
                        DELIVERY_LIMIT_REASON,
                    )
                }
                _ => {
                    let back = self
                        .inner
                        .queue_dir(&self.spec.name)
                        .join("new")
                        .join(format!("{}~{}", self.seq, self.deliveries));
                    fs::rename(&self.path, back).map_err(|e| {
                        if e.kind() == io::ErrorKind::NotFound {
                            AxisError::DeliveryStale
                        } else {
                            e.into()
                        }
                    })
                }
            },
            Outcome::Refuse(reason) => match &self.spec.dlq {
                Some(dlq) => {
                    self.inner
                        .dead_letter(&self.path, &self.seq, dlq, &self.spec.owner, &reason)
                }
                // Refusing from a dead-letter queue discards the message,
                // as basic.reject without requeue does on RabbitMQ.
                None => {
                    tracing::warn!(
                        seq = self.seq,
                        reason,
                        "message discarded from dead-letter queue"
                    );
                    fs::remove_file(&self.path).map_err(Into::into)
                }
            },
        }
    }
}

#[async_trait]
impl Settle for FileClaim {
    async fn settle(self: Box<Self>, outcome: Outcome) -> Result<(), AxisError> {
        tokio::task::spawn_blocking(move || self.settle_blocking(outcome))
            .await
            .map_err(|e| AxisError::Io(io::Error::other(e)))?
    }

    fn abandon(self: Box<Self>) {
        if let Err(e) = self.settle_blocking(Outcome::Retry) {
            tracing::warn!(error = %e, "could not give back an abandoned delivery");
        }
    }
}

impl FileSource {
    /// Try to claim the next message; `Ok(None)` when the queue is empty.
    fn try_next_blocking(&mut self) -> Result<Option<Delivery>, AxisError> {
        let qdir = self.inner.queue_dir(&self.spec.name);
        let due = self
            .last_recovery
            .is_none_or(|t| t.elapsed() > Duration::from_secs(1));
        if due {
            self.inner.recover_stale(&self.spec.name)?;
            self.last_recovery = Some(Instant::now());
        }
        loop {
            if self.pending.is_empty() {
                // Names that are not queue entries (stray files) are skipped
                // here, or they would be rescanned forever.
                let mut names: Vec<String> = fs::read_dir(qdir.join("new"))?
                    .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
                    .filter(|n| matches!(parse_name(n), Some((_, _, None))))
                    .collect();
                if names.is_empty() {
                    return Ok(None);
                }
                names.sort();
                self.pending = names.into();
            }
            let Some(name) = self.pending.pop_front() else {
                return Ok(None);
            };
            let Some((seq, n, None)) = parse_name(&name) else {
                continue;
            };
            let from = qdir.join("new").join(&name);
            if let (Some(dlq), true) = (&self.spec.dlq, n >= self.inner.opts.max_deliveries) {
                // Delivered too often already (its consumers kept dying).
                let claim = qdir
                    .join("cur")
                    .join(format!("{seq}~{n}~{}", self.inner.token));
                if fs::rename(&from, &claim).is_ok() {
                    self.inner.dead_letter(
                        &claim,
                        seq,
                        dlq,
                        &self.spec.owner,
                        DELIVERY_LIMIT_REASON,
                    )?;
                }
                continue;
            }
            let claim = qdir
                .join("cur")
                .join(format!("{seq}~{}~{}", n + 1, self.inner.token));
            match fs::rename(&from, &claim) {
                Ok(()) => {}
                // Another consumer took it first.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e.into()),
            }
            let seq = seq.to_string();
            let mut data = Vec::new();
            File::open(&claim)?.read_to_end(&mut data)?;
            let settle = Box::new(FileClaim {
                inner: self.inner.clone(),
                spec: self.spec.clone(),
                seq: seq.clone(),
                deliveries: n + 1,
                path: claim.clone(),
            });
            match decode(&data) {
                Ok((envelope, dead_letter)) => {
                    // Tap entries are named <seq>@<recipient>.
                    let delivered_to = match seq.split_once('@') {
                        Some((_, r)) => r.to_string(),
                        None => self.spec.owner.clone(),
                    };
                    return Ok(Some(Delivery {
                        envelope,
                        delivered_to,
                        redelivered: n > 0,
                        attempt: n + 1,
                        dead_letter,
                        settle: Some(settle),
                    }));
                }
                Err(e) => {
                    // A corrupt file cannot be handed out; park it in the
                    // dead-letter queue so it is visible, and tell the caller.
                    tracing::error!(seq, error = %e, "undecodable message file");
                    match &self.spec.dlq {
                        Some(dlq) => {
                            let _ = fs::rename(
                                &claim,
                                self.inner
                                    .queue_dir(dlq)
                                    .join("new")
                                    .join(format!("{seq}~0")),
                            );
                        }
                        None => {
                            let _ = fs::remove_file(&claim);
                        }
                    }
                    return Err(e);
                }
            }
        }
    }
}

fn decode(data: &[u8]) -> Result<(Envelope, Option<DeadLetter>), AxisError> {
    let split = data
        .iter()
        .position(|&b| b == b'\n')
        .ok_or_else(|| AxisError::InvalidEnvelope("message file without metadata".into()))?;
    let meta: Meta = serde_json::from_slice(&data[..split])
        .map_err(|e| AxisError::InvalidEnvelope(e.to_string()))?;
    let kind = Kind::parse(&meta.kind)
        .ok_or_else(|| AxisError::InvalidEnvelope(format!("unknown kind {}", meta.kind)))?;
    let env = Envelope::new(
        kind,
        meta.sender,
        meta.recipients,
        meta.key_id,
        Bytes::copy_from_slice(&data[split + 1..]),
    )?;
    let dl = meta.dead_letter_reason.map(|reason| DeadLetter {
        reason,
        queue_of: meta.dead_letter_queue_of.unwrap_or_default(),
    });
    Ok((env, dl))
}

#[async_trait]
impl Source for FileSource {
    async fn next(&mut self) -> Option<Result<Delivery, AxisError>> {
        loop {
            // Claiming touches the disk: run it on the blocking pool. The
            // scan state moves there and back because the claim owns it.
            let claim = match self.claim.take() {
                Some(running) => running,
                None => {
                    let mut me = FileSource {
                        inner: self.inner.clone(),
                        spec: self.spec.clone(),
                        pending: std::mem::take(&mut self.pending),
                        last_recovery: self.last_recovery,
                        poll: self.poll,
                        claim: None,
                    };
                    tokio::task::spawn_blocking(move || {
                        let r = me.try_next_blocking();
                        (me, r)
                    })
                }
            };
            let claim = self.claim.insert(claim);
            let res = claim.await;
            self.claim = None;
            let (me, r) = match res {
                Ok(x) => x,
                Err(e) => return Some(Err(AxisError::Io(io::Error::other(e)))),
            };
            self.pending = me.pending;
            self.last_recovery = me.last_recovery;
            match r {
                Ok(Some(d)) => {
                    self.poll = Duration::from_millis(1);
                    return Some(Ok(d));
                }
                Ok(None) => {
                    tokio::time::sleep(self.poll).await;
                    self.poll = (self.poll * 2).min(self.inner.opts.max_poll_interval);
                }
                Err(e) => {
                    // The directory was removed under us (e.g. a test's temp
                    // dir): the queue is gone for good, end the stream
                    // instead of failing in a loop.
                    if !self.inner.queue_dir(&self.spec.name).join("new").is_dir() {
                        tracing::error!(queue = self.spec.name, error = %e, "queue directory vanished; consumer ends");
                        return None;
                    }
                    // Pause so that a caller retrying on errors cannot spin.
                    tokio::time::sleep(self.inner.opts.max_poll_interval).await;
                    return Some(Err(e));
                }
            }
        }
    }

    async fn close(&mut self) -> Result<(), AxisError> {
        Ok(())
    }
}

#[async_trait]
impl Axis for EmbeddedAxis {
    async fn setup(&self, agencies: &[&str]) -> Result<(), AxisError> {
        for a in agencies {
            validate_agency_id(a)?;
        }
        let inner = self.inner.clone();
        let agencies: Vec<String> = agencies.iter().map(|s| s.to_string()).collect();
        tokio::task::spawn_blocking(move || -> Result<(), AxisError> {
            inner.ensure_queue("tap")?;
            inner.ensure_queue("tap.dlq")?;
            for a in &agencies {
                inner.ensure_queue(&QueueSpec::inbox(a).name)?;
                inner.ensure_queue(&QueueSpec::dlq(a).name)?;
            }
            Ok(())
        })
        .await
        .map_err(|e| AxisError::Io(io::Error::other(e)))?
    }

    async fn publish(&self, envelope: &Envelope) -> Result<PublishReceipt, AxisError> {
        // FIFO lock: publishes of this instance become visible in call
        // order (`unconstrained`: see the same call in the rabbit module).
        let _guard = tokio::task::unconstrained(self.inner.publish_lock.lock()).await;
        let inner = self.inner.clone();
        let env = envelope.clone();
        tokio::task::spawn_blocking(move || inner.publish_blocking(&env))
            .await
            .map_err(|e| AxisError::Io(io::Error::other(e)))?
    }

    async fn consume(&self, agency: &str) -> Result<Consumer, AxisError> {
        validate_agency_id(agency)?;
        self.consumer(QueueSpec::inbox(agency)).await
    }

    async fn dead_letters(&self, agency: &str) -> Result<Consumer, AxisError> {
        validate_agency_id(agency)?;
        self.consumer(QueueSpec::dlq(agency)).await
    }

    async fn tap(&self) -> Result<Consumer, AxisError> {
        self.consumer(QueueSpec::tap()).await
    }

    async fn close(&self) -> Result<(), AxisError> {
        Ok(())
    }
}
