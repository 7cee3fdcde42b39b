//! The adapter's state, and what it does with one document or status.
//!
//! Folders under the data directory (the contract with document systems):
//!
//! | folder | who writes | what |
//! |---|---|---|
//! | `outbox/` | document system | edXML documents to send (write elsewhere, then rename in) |
//! | `sent/` | adapter | `<stem>.xml` as signed and sent (there before it is first published), `<stem>.json` its record and statuses (a status is in it before it appears in `status-inbox/`; other changes within 1 s: see [`crate::sent`]) |
//! | `rejected/` | adapter | outbox files refused, each with `<name>.error` saying what to fix |
//! | `inbox/` | adapter | verified documents for this agency, each exactly once |
//! | `status-outbox/` | document system | status requests (JSON) to send |
//! | `status-inbox/` | adapter | verified statuses about this agency's documents, and recalls |
//!
//! Every step that hands something on is ordered so that a crash at any
//! instant loses nothing and duplicates nothing: see [`Adapter::submit`] here
//! and [`crate::journal`] for the receiving side.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use docaxis_axis::{Axis, AxisError, Delivery, Envelope, Kind};
use docaxis_directory::{keys, Directory, SignedDirectory};
use docaxis_dsig::{verify, Signer, VerifyError};
use docaxis_edxml::{
    organization, parse, validate, Document, EdTimestamp, FieldError, Message, OrganId,
    Organization, ParseLimits, StatusCode, StatusMessage, TraceHeader,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::config::Config;
use crate::fsio;
use crate::journal::{Committed, EntryKind, Incoming, Journal};
use crate::metrics::{InFlight, Metrics};
use crate::sent::{RecipientState, SentRecord, SentStore, StatusSeen};
use crate::status::{response_for, response_for_id, status};

/// Folder names under the data directory.
pub mod folders {
    /// Documents to send.
    pub const OUTBOX: &str = "outbox";
    /// Sent documents and their records.
    pub const SENT: &str = "sent";
    /// Refused outbox files.
    pub const REJECTED: &str = "rejected";
    /// Received documents.
    pub const INBOX: &str = "inbox";
    /// Status requests to send.
    pub const STATUS_OUTBOX: &str = "status-outbox";
    /// Received statuses.
    pub const STATUS_INBOX: &str = "status-inbox";
    /// All of them, created at start-up.
    pub const ALL: &[&str] = &[OUTBOX, SENT, REJECTED, INBOX, STATUS_OUTBOX, STATUS_INBOX];
}

/// Why the adapter could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A file named in the configuration is unusable.
    #[error("{what} {path}: {message}")]
    File {
        /// What the file is for.
        what: &'static str,
        /// Its path.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The directory does not list this agency, or not this key for it.
    #[error("{0}")]
    NotListed(String),
    /// The axis cannot be reached or set up.
    #[error("axis: {0}")]
    Axis(#[from] AxisError),
    /// A folder cannot be created or read.
    #[error("data directory: {0}")]
    Io(#[from] std::io::Error),
}

/// Why one outbox document was not sent.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The document is wrong: it goes to `rejected/` with these problems.
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
    /// The axis did not take it now; it stays and is tried again.
    #[error("axis: {0}")]
    Transport(#[from] AxisError),
    /// A local file operation failed; tried again.
    #[error("file: {0}")]
    Io(#[from] std::io::Error),
}

/// What happened to a sent document.
#[derive(Debug, Clone, Serialize)]
pub struct SendOutcome {
    /// DocumentId.
    pub document_id: String,
    /// Message id on the axis.
    pub message_id: String,
    /// Recipients whose copy the axis confirmed.
    pub delivered: Vec<String>,
    /// Recipients the axis does not know.
    pub unroutable: Vec<String>,
}

/// A status the document system asks the adapter to send (a JSON file in
/// `status-outbox/`, or a POST to `/statuses`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StatusRequest {
    /// The document the status is about.
    pub document_id: String,
    /// `03`, `04`, `05`, `06`, `02` (with a description), `15`, `16`; or `13`
    /// (recall) for a document this agency sent.
    pub code: String,
    /// The reason (mandatory for `02`).
    #[serde(default)]
    pub description: String,
}

/// One agency's adapter.
pub struct Adapter {
    config: Config,
    me: Organization,
    signer: Signer,
    directory: RwLock<Directory>,
    axis: Arc<dyn Axis>,
    journal: Journal,
    sent: SentStore,
    /// Inodes of files done with, for reuse (see [`fsio::Spares`]).
    spares: Arc<fsio::Spares>,
    limits: ParseLimits,
    stopping: std::sync::atomic::AtomicBool,
    /// Counters for `/metrics`.
    pub metrics: Metrics,
}

impl std::fmt::Debug for Adapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Adapter")
            .field("agency", &self.me.organ_id)
            .finish_non_exhaustive()
    }
}

fn file_error(what: &'static str, path: &Path, e: impl std::fmt::Display) -> StartError {
    StartError::File {
        what,
        path: path.to_owned(),
        message: e.to_string(),
    }
}

/// Runs blocking file work (fsyncs) without stalling the async workers.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

/// The folder of spare inodes in the data directory (see [`fsio::Spares`]).
const SPARES: &str = ".spare";

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Adapter {
    /// Loads keys and directory, opens the folders and journal, connects to
    /// the axis and declares this agency's queues.
    pub async fn open(config: Config) -> Result<Adapter, StartError> {
        for f in folders::ALL {
            std::fs::create_dir_all(config.folder(f))?;
        }
        let key = keys::read_private_key(&config.key_file)
            .map_err(|e| file_error("signing key", &config.key_file, e))?;
        let root = keys::read_public_key(&config.root_pub)
            .map_err(|e| file_error("root public key", &config.root_pub, e))?;
        let directory = SignedDirectory::load(&config.directory, &root)
            .map_err(|e| file_error("agency directory", &config.directory, e))?;
        let agency = directory.agency(&config.organ_id).ok_or_else(|| {
            StartError::NotListed(format!(
                "the agency directory does not list {}; ask the axis operator to add it",
                config.organ_id
            ))
        })?;
        let listed = directory
            .key(&config.key_id)
            .is_some_and(|(a, k)| a.id == config.organ_id && k.public_key == key.verifying_key());
        if !listed {
            return Err(StartError::NotListed(format!(
                "key {} in {} is not listed for {} in the agency directory (or its public half differs); register it with `docaxis directory add-key`",
                config.key_id,
                config.key_file.display(),
                config.organ_id
            )));
        }
        let me = organization(config.organ_id.clone(), agency.name.clone());
        let axis: Arc<dyn Axis> = Arc::from(docaxis_axis::connect(config.axis.as_deref()).await?);
        axis.ensure(&[config.organ_id.as_str()]).await?;
        let spares = Arc::new(fsio::Spares::open(&config.data_dir.join(SPARES))?);
        let journal = Journal::open(&config.data_dir, spares.clone())?;
        let sent = SentStore::open(&config.folder(folders::SENT), spares.clone())?;
        Ok(Adapter {
            signer: Signer::new(key, config.key_id.clone()),
            me,
            directory: RwLock::new(directory),
            axis,
            journal,
            sent,
            spares,
            limits: ParseLimits::default(),
            stopping: std::sync::atomic::AtomicBool::new(false),
            metrics: Metrics::default(),
            config,
        })
    }

    /// Asks work that is waiting (for disk space, for the axis) to give up:
    /// its message stays unacknowledged and comes back after a restart.
    pub fn request_stop(&self) {
        self.stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    fn is_stopping(&self) -> bool {
        self.stopping.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Repeats `attempt` with backoff until it succeeds or the adapter
    /// stops. A message whose durable effect cannot be made now (a full
    /// disk, the axis away) stays unacknowledged without spending its
    /// delivery count — retrying through the axis would send it to the
    /// dead-letter queue after a few tries — and each failure is logged so
    /// the operator sees why. `None` if the adapter stopped first.
    async fn persist<T, E: std::fmt::Display, F: std::future::Future<Output = Result<T, E>>>(
        &self,
        what: &str,
        document_id: &str,
        mut attempt: impl FnMut() -> F,
    ) -> Option<T> {
        let mut wait = std::time::Duration::from_millis(100);
        loop {
            match attempt().await {
                Ok(v) => return Some(v),
                Err(e) => {
                    tracing::error!(document_id = %document_id, error = %e, "cannot {what} now; holding the message (not acknowledged) and trying again in {wait:?}");
                }
            }
            if self.is_stopping() {
                return None;
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(std::time::Duration::from_secs(5));
        }
    }

    /// This agency's id.
    pub fn organ_id(&self) -> &OrganId {
        &self.me.organ_id
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The axis (for the daemon's consumer and shutdown).
    pub fn axis(&self) -> &Arc<dyn Axis> {
        &self.axis
    }

    fn directory(&self) -> std::sync::RwLockReadGuard<'_, Directory> {
        self.directory.read().unwrap_or_else(|e| e.into_inner())
    }

    fn field_problems(errors: &[FieldError]) -> Vec<String> {
        errors.iter().map(ToString::to_string).collect()
    }

    // ----- sending -----------------------------------------------------

    /// Validates, signs and publishes a document from the document system;
    /// `source` names it (the outbox file name, or `http`).
    pub async fn submit(&self, bytes: &[u8], source: &str) -> Result<SendOutcome, SubmitError> {
        let _guard = InFlight::new(&self.metrics);
        let mut doc = self.check_outgoing(bytes)?;
        let document_id = doc.header.document_id.clone();
        let stem = fsio::document_file_stem(&document_id, &sha256_hex(bytes));
        // A record is in memory or one small, cached file: no blocking
        // section needed.
        let existing = self.sent().get(&document_id)?;
        let envelope = match existing {
            Some(record) if record.source != source => {
                return Err(SubmitError::Invalid(vec![format!(
                    "MessageHeader/DocumentId: {document_id} was already sent (from {}); a new document needs a new number, and a change is sent as an update or replacement (Bussiness/BussinessDocType 2 or 3)",
                    record.source
                )]));
            }
            Some(record) if record.sent_at.is_some() => {
                // Sent before a crash kept the outbox file (or an HTTP
                // client retried): nothing more to do.
                return Ok(SendOutcome {
                    document_id,
                    message_id: record.message_id,
                    delivered: record
                        .recipients
                        .iter()
                        .filter(|(_, s)| !s.unroutable)
                        .map(|(r, _)| r.clone())
                        .collect(),
                    unroutable: record
                        .recipients
                        .iter()
                        .filter(|(_, s)| s.unroutable)
                        .map(|(r, _)| r.clone())
                        .collect(),
                });
            }
            Some(record) => {
                // Signed and recorded, not confirmed: publish the very same
                // bytes again (receivers recognise them).
                let signed =
                    blocking(|| self.sent().signed_bytes(&document_id))?.ok_or_else(|| {
                        std::io::Error::other(format!(
                            "the signed copy of {document_id} is missing from sent/"
                        ))
                    })?;
                self.envelope(&record, signed)?
            }
            None => {
                doc.trace.trace_headers.push(TraceHeader {
                    organ_id: self.me.organ_id.clone(),
                    timestamp: EdTimestamp::now(),
                });
                let recipients = doc
                    .header
                    .to
                    .iter()
                    .map(|t| (t.organ_id.to_string(), RecipientState::default()))
                    .collect::<BTreeMap<_, _>>();
                // The document moves into the message (no copy) and is gone
                // before the awaits below: only its signed bytes wait for
                // the axis.
                let signed = self
                    .signer
                    .sign_message(&Message::Document(Box::new(doc)))
                    .map_err(|e| SubmitError::Invalid(vec![e.to_string()]))?;
                let mut record = SentRecord {
                    document_id: document_id.clone(),
                    message_id: String::new(),
                    sent_at: None,
                    source: source.to_owned(),
                    recipients,
                };
                // The envelope hashes the signed bytes once; the record
                // takes its message id from it.
                let envelope = self.envelope(&record, signed)?;
                record.message_id = envelope.message_id().to_owned();
                self.sent()
                    .create(&stem, envelope.payload(), &record)
                    .await?;
                envelope
            }
        };
        self.publish_document(&document_id, envelope).await
    }

    /// The envelope of a recorded document: to its recipients, signed by
    /// this agency's key.
    fn envelope(&self, record: &SentRecord, signed: Vec<u8>) -> Result<Envelope, SubmitError> {
        Envelope::document(
            self.me.organ_id.as_str(),
            record.recipients.keys().cloned().collect(),
            self.signer.key_id(),
            signed,
        )
        .map_err(|e| SubmitError::Invalid(vec![e.to_string()]))
    }

    /// Publishes a recorded document and marks it confirmed.
    async fn publish_document(
        &self,
        document_id: &str,
        envelope: Envelope,
    ) -> Result<SendOutcome, SubmitError> {
        let started = Instant::now();
        let (delivered, unroutable) = match self.axis.publish(&envelope).await {
            Ok(r) => (r.delivered, Vec::new()),
            Err(AxisError::Unroutable {
                delivered,
                unroutable,
                ..
            }) => (delivered, unroutable),
            Err(e) => return Err(e.into()),
        };
        self.metrics.publish_latency(started.elapsed());
        if !unroutable.is_empty() {
            tracing::error!(document_id = %document_id, unroutable = ?unroutable, "the axis knows no queue for these recipients");
        }
        self.sent()
            .confirm(document_id, now_rfc3339(), &unroutable)
            .await?;
        self.metrics
            .documents_sent
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::info!(document_id = %document_id, recipients = envelope.recipients().len(), "sent");
        Ok(SendOutcome {
            document_id: document_id.to_owned(),
            message_id: envelope.message_id().to_owned(),
            delivered,
            unroutable,
        })
    }

    /// Publishes again every recorded document the axis never confirmed
    /// (a crash, or an HTTP client that gave up). Called at start-up.
    pub async fn resume_unconfirmed(&self) {
        let ids = match blocking(|| self.sent().unconfirmed()) {
            Ok(ids) => ids,
            Err(e) => {
                tracing::error!(error = %e, "cannot read sent/");
                return;
            }
        };
        for id in ids {
            let found = blocking(|| {
                Ok::<_, std::io::Error>((self.sent().get(&id)?, self.sent().signed_bytes(&id)?))
            });
            let envelope = match found {
                Ok((Some(record), Some(signed))) => match self.envelope(&record, signed) {
                    Ok(e) => e,
                    Err(e) => {
                        tracing::error!(document_id = %id, error = %e, "cannot publish it again");
                        continue;
                    }
                },
                _ => continue,
            };
            tracing::info!(document_id = %id, "publishing again: signed before a stop, never confirmed");
            if let Err(e) = self.publish_document(&id, envelope).await {
                tracing::warn!(document_id = %id, error = %e, "not confirmed yet; the outbox scan will try again");
            }
        }
    }

    /// Takes a file the adapter is done with (a sent outbox file, a
    /// status request sent) out of its folder, keeping its inode for reuse.
    pub fn discard(&self, file: &Path) -> std::io::Result<()> {
        self.spares.discard(file)
    }

    fn journal(&self) -> &Journal {
        &self.journal
    }

    fn sent(&self) -> &SentStore {
        &self.sent
    }

    /// Everything an outgoing document must satisfy before it is signed.
    fn check_outgoing(&self, bytes: &[u8]) -> Result<Document, SubmitError> {
        let parsed = parse(bytes, &self.limits).map_err(|e| match e {
            docaxis_edxml::ParseError::Invalid(errors) => {
                SubmitError::Invalid(Self::field_problems(&errors))
            }
            other => SubmitError::Invalid(vec![other.to_string()]),
        })?;
        let Message::Document(doc) = parsed.message else {
            return Err(SubmitError::Invalid(vec![
                "this is a status message; put status requests in status-outbox/ as JSON".into(),
            ]));
        };
        let mut problems = Vec::new();
        if doc.header.from.organ_id != self.me.organ_id {
            problems.push(format!(
                "MessageHeader/From/OrganId: is {}, but this adapter sends for {}",
                doc.header.from.organ_id, self.me.organ_id
            ));
        }
        if doc.signature.is_some() {
            problems.push("Signature: the document is already signed; the adapter signs it (remove the Signature)".into());
        }
        let message = Message::Document(doc);
        let mut errors = validate(&message, &*self.directory());
        parsed.source_map.locate(bytes, &mut errors);
        problems.extend(Self::field_problems(&errors));
        if !problems.is_empty() {
            return Err(SubmitError::Invalid(problems));
        }
        let Message::Document(doc) = message else {
            unreachable!("checked above")
        };
        Ok(*doc)
    }

    /// Moves a refused outbox file to `rejected/` with a `.error` file.
    pub fn reject(&self, file: &Path, problems: &[String]) -> std::io::Result<()> {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dir = self.config.folder(folders::REJECTED);
        let mut text =
            format!("{name} was not sent. Fix the following and put it in outbox/ again:\n");
        for p in problems {
            text.push_str(&format!("- {p}\n"));
        }
        fsio::write_atomic(&dir, &format!("{name}.error"), text.as_bytes())?;
        fsio::move_into(file, &dir, &name)?;
        self.metrics
            .documents_refused
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::warn!(file = %name, problems = problems.len(), "outbox file rejected");
        Ok(())
    }

    /// Sends a status the document system asked for.
    pub async fn send_status(&self, req: &StatusRequest) -> Result<(), SubmitError> {
        let code =
            StatusCode::parse(&req.code).map_err(|e| SubmitError::Invalid(vec![e.to_string()]))?;
        let about = response_for_id(&req.document_id).ok_or_else(|| {
            SubmitError::Invalid(vec![format!(
                "document_id {:?} is not of the form <OrganId>,<yyyy/MM/dd>,<number>/<notation>",
                req.document_id
            )])
        })?;
        if code == StatusCode::Refused && req.description.trim().is_empty() {
            return Err(SubmitError::Invalid(vec![
                "a refusal (02) needs a description: the reason".into(),
            ]));
        }
        let recipients: Vec<String> = if code == StatusCode::Recall {
            let record = blocking(|| self.sent().get(&req.document_id))?;
            let record = record.ok_or_else(|| {
                SubmitError::Invalid(vec![format!(
                    "recall (13): {} was not sent by this agency",
                    req.document_id
                )])
            })?;
            record.recipients.keys().cloned().collect()
        } else {
            let (sender, _) = self
                .journal()
                .find_document(&req.document_id)
                .ok_or_else(|| {
                    SubmitError::Invalid(vec![format!(
                        "{} was not received by this agency",
                        req.document_id
                    )])
                })?;
            vec![sender]
        };
        let message = status(
            &self.me,
            about,
            code,
            req.description.clone(),
            EdTimestamp::now(),
        );
        self.publish_status(message, recipients).await
    }

    async fn publish_status(
        &self,
        message: StatusMessage,
        recipients: Vec<String>,
    ) -> Result<(), SubmitError> {
        let signed = self
            .signer
            .sign_message(&Message::Status(Box::new(message)))
            .map_err(|e| SubmitError::Invalid(vec![e.to_string()]))?;
        let envelope = Envelope::new(
            Kind::Status,
            self.me.organ_id.as_str(),
            recipients,
            self.signer.key_id(),
            signed,
        )
        .map_err(|e| SubmitError::Invalid(vec![e.to_string()]))?;
        self.axis.publish(&envelope).await?;
        self.metrics
            .statuses_sent
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    // ----- receiving ---------------------------------------------------

    /// Handles one delivery from this agency's queue, settling it.
    pub async fn handle(&self, delivery: Delivery) -> Result<(), AxisError> {
        let _guard = InFlight::new(&self.metrics);
        match delivery.envelope.kind() {
            Kind::Document => self.receive_document(delivery).await,
            Kind::Status => self.receive_status(delivery).await,
        }
    }

    /// Verifies a delivery: signature against the directory, signer equal
    /// to the envelope's sender.
    fn verify_delivery(&self, delivery: &Delivery) -> Result<docaxis_dsig::Verified, String> {
        let env = &delivery.envelope;
        let now = OffsetDateTime::now_utc();
        let v = verify(env.payload(), &*self.directory(), now, &self.limits)
            .map_err(|e: VerifyError| e.to_string())?;
        if v.signer.as_str() != env.sender() {
            return Err(format!(
                "the envelope says the sender is {}, but the document is signed by {}",
                env.sender(),
                v.signer
            ));
        }
        Ok(v)
    }

    async fn receive_document(&self, delivery: Delivery) -> Result<(), AxisError> {
        let env = &delivery.envelope;
        let digest = env.digest().to_owned();
        let known = self.journal().get(&digest);
        if let Some(entry) = known {
            // A redelivery: the document is already in the inbox (or was
            // taken from it). Make sure the sender got its 01, then ack.
            self.metrics
                .duplicates
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::info!(document_id = %entry.document_id, "redelivered; already received");
            if !entry.answered {
                if let Ok(Message::Document(doc)) =
                    parse(env.payload(), &self.limits).map(|p| p.message)
                {
                    let sent = self
                        .persist("send status 01", &entry.document_id, || {
                            self.answer_arrived(&doc, &digest)
                        })
                        .await;
                    if sent.is_none() {
                        return Ok(()); // stopping: dropped unsettled, redelivered later
                    }
                }
            }
            return delivery.ack().await;
        }

        let verified = match self.verify_delivery(&delivery) {
            Ok(v) => v,
            Err(reason) => return self.refuse(delivery, reason).await,
        };
        let Message::Document(doc) = &verified.message else {
            return self
                .refuse(delivery, "a status message was sent as a document".into())
                .await;
        };
        let document_id = doc.header.document_id.clone();
        if !doc.header.to.iter().any(|t| t.organ_id == self.me.organ_id) {
            let reason = format!(
                "{} is not among the document's recipients (To)",
                self.me.organ_id
            );
            return self.refuse(delivery, reason).await;
        }
        let errors = validate(&verified.message, &*self.directory());
        if !errors.is_empty() {
            return self
                .refuse(delivery, Self::field_problems(&errors).join("; "))
                .await;
        }
        let sender = env.sender().to_owned();
        let resent = self.journal().document(&sender, &document_id);
        if let Some(previous) = resent {
            // Same DocumentId from the same sender, other bytes: a re-signed
            // re-send. The inbox already has this document.
            self.metrics
                .duplicates
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::warn!(document_id = %document_id, previous = %previous, "same DocumentId received again with other bytes; not delivered twice");
            return delivery.ack().await;
        }

        let name = format!("{}.xml", fsio::document_file_stem(&document_id, &digest));
        let incoming = Incoming {
            kind: EntryKind::Document,
            digest: &digest,
            document_id: &document_id,
            sender: &sender,
            folder: folders::INBOX,
            name: &name,
            bytes: env.payload(),
        };
        let written = self
            .persist("write to the inbox", &document_id, move || async move {
                self.journal().receive(&incoming).await
            })
            .await;
        match written {
            None => return Ok(()),
            Some(Committed::Duplicate) => {
                // Another copy in flight at the same moment (same bytes,
                // or re-signed) was taken in first; it answers 01.
                self.metrics
                    .duplicates
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!(document_id = %document_id, "received twice at once; delivered once");
                return delivery.ack().await;
            }
            Some(Committed::New) => {}
        }
        self.metrics
            .documents_received
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::info!(document_id = %document_id, from = %sender, "received");
        let answered = self
            .persist("send status 01", &document_id, || {
                self.answer_arrived(doc, &digest)
            })
            .await;
        if answered.is_none() {
            return Ok(());
        }
        delivery.ack().await
    }

    /// Sends status 01 (arrived) for a received document and notes it.
    async fn answer_arrived(&self, doc: &Document, digest: &str) -> Result<(), SubmitError> {
        let message = status(
            &self.me,
            response_for(doc),
            StatusCode::Arrived,
            "",
            EdTimestamp::now(),
        );
        self.publish_status(message, vec![doc.header.from.organ_id.to_string()])
            .await?;
        self.journal().answered(digest).await?;
        Ok(())
    }

    /// Refuses an incoming document: status 02 to its sender where there
    /// is one to tell, then the dead-letter queue with the reason.
    async fn refuse(&self, delivery: Delivery, reason: String) -> Result<(), AxisError> {
        let env = &delivery.envelope;
        tracing::warn!(message_id = env.message_id(), sender = env.sender(), reason = %reason, "refused");
        self.metrics
            .documents_refused
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let claimed = parse(env.payload(), &self.limits)
            .ok()
            .and_then(|p| match p.message {
                Message::Document(doc) => Some(doc),
                Message::Status(_) => None,
            });
        if let Some(doc) = claimed {
            // Tell the agency the document claims to come from; if someone
            // forged it, that agency learns of it too. An agency the
            // directory does not list is no one: there is no verified
            // sender to answer and no queue of that name on the axis, so
            // the reason stays in the dead-letter queue for the operator.
            let to = doc.header.from.organ_id.to_string();
            if self.directory().agency(&doc.header.from.organ_id).is_none() {
                tracing::warn!(document_id = %doc.header.document_id, from = %to, "no status 02: the claimed sender is not in the agency directory");
                return delivery.refuse(reason).await;
            }
            let message = status(
                &self.me,
                response_for(&doc),
                StatusCode::Refused,
                reason.clone(),
                EdTimestamp::now(),
            );
            if let Err(e) = self.publish_status(message, vec![to]).await {
                tracing::warn!(document_id = %doc.header.document_id, error = %e, "could not send status 02");
            }
        }
        delivery.refuse(reason).await
    }

    async fn receive_status(&self, delivery: Delivery) -> Result<(), AxisError> {
        let env = &delivery.envelope;
        let digest = env.digest().to_owned();
        if self.journal().get(&digest).is_some() {
            self.metrics
                .duplicates
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return delivery.ack().await;
        }
        let verified = match self.verify_delivery(&delivery) {
            Ok(v) => v,
            Err(reason) => {
                tracing::warn!(message_id = env.message_id(), reason = %reason, "status refused");
                return delivery.refuse(reason).await;
            }
        };
        let Message::Status(st) = &verified.message else {
            return delivery.refuse("a document was sent as a status").await;
        };
        let document_id = st.response_for.document_id.clone();
        let from = st.from.organ_id.to_string();
        let known = if st.response_for.organ_id == self.me.organ_id {
            // About a document this agency sent: note it in the record.
            let seen = StatusSeen {
                code: st.status_code.wire(),
                label: st.status_code.label().into(),
                at: st.timestamp.to_string(),
                description: st.description.clone(),
            };
            let recorded = self
                .persist("record the status in sent/", &document_id, || {
                    let seen = seen.clone();
                    let (document_id, from) = (&document_id, &from);
                    async move { self.sent().add_status(document_id, from, seen).await }
                })
                .await;
            match recorded {
                Some(known) => known,
                None => return Ok(()), // stopping: redelivered later
            }
        } else {
            // A recall (13) from the sender of a document received here.
            self.journal().document(&from, &document_id).is_some()
        };
        // A refusal of a document this agency never sent means someone sent
        // one in its name: keep it where the clerk will see it.
        let forged_in_our_name =
            st.status_code == StatusCode::Refused && st.response_for.organ_id == self.me.organ_id;
        if forged_in_our_name && !known {
            tracing::error!(document_id = %document_id, from = %from, "refusal of a document this agency never sent: someone may be sending in its name");
        }
        if !known && !forged_in_our_name {
            let reason = format!("status {} about {document_id}, which this agency neither sent nor received from {from}", st.status_code.wire());
            return delivery.refuse(reason).await;
        }
        let name = format!(
            "{}.{}.{}.xml",
            fsio::document_file_stem(&document_id, &digest),
            st.status_code.wire(),
            from
        );
        let incoming = Incoming {
            kind: EntryKind::Status,
            digest: &digest,
            document_id: &document_id,
            sender: &from,
            folder: folders::STATUS_INBOX,
            name: &name,
            bytes: env.payload(),
        };
        let written = self
            .persist("write to status-inbox", &document_id, move || async move {
                self.journal().receive(&incoming).await
            })
            .await;
        match written {
            None => return Ok(()),
            Some(Committed::Duplicate) => return delivery.ack().await,
            Some(Committed::New) => {}
        }
        self.metrics
            .statuses_received
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::info!(document_id = %document_id, from = %from, code = %st.status_code.wire(), "status received");
        delivery.ack().await
    }

    /// Writes the sent records whose files lag behind (see
    /// [`crate::sent`]); called on a clean stop.
    pub async fn flush_records(&self) {
        if let Err(e) = self.sent().flush().await {
            tracing::error!(error = %e, "cannot write the records in sent/; the next start writes them");
        }
    }

    /// The record of a sent document.
    pub fn sent_record(&self, document_id: &str) -> std::io::Result<Option<SentRecord>> {
        self.sent().get(document_id)
    }
}

fn now_rfc3339() -> String {
    OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
