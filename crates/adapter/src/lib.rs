//! The docaxis adapter: what an agency installs between its document system
//! (hệ thống quản lý văn bản và điều hành) and the axis.
//!
//! Sending: a document renamed into `outbox/` (or POSTed to the loopback
//! endpoint) is validated, stamped with this agency's TraceHeader, signed
//! with the agency key, published to every recipient, and once the axis
//! confirms it, recorded in `sent/`. An invalid one goes to `rejected/` with
//! a `.error` file saying what to fix.
//!
//! Receiving: each delivery from the agency's queue is verified against the
//! agency directory, written once into `inbox/` (atomically, fsynced) and
//! only then acknowledged; status 01 goes back automatically. A document
//! that fails is refused: status 02 with the reason to its sender, the
//! reason kept in the dead-letter queue, nothing in the inbox. "Its
//! sender" is the agency in the document's `From`: it learns of a forgery
//! in its name too. A `From` the agency directory does not list gets no
//! 02 — there is no verified sender to answer and no such agency on the
//! axis — and the dead-letter queue keeps the reason for the operator.
//!
//! Throughput: every durable step is grouped. Each delivery and outbox
//! file is a task of its own (up to `concurrency`), so their fsyncs overlap
//! and the file system commits them together; the journal appends the
//! entries of every message waiting at that moment with one fsync
//! ([`journal`]); the sender's records go the same way, through a log
//! whose group commit also carries the signed bytes, so a document costs
//! no fsync of its own in `sent/` ([`sent`]); publishes share the axis's
//! confirm window.
//!
//! Modules: [`config`] (agency.toml), [`adapter`] (the rules for one
//! message), [`daemon`] (loops, signals), [`http`], [`journal`] (received
//! messages, crash-safe), [`sent`] (sent records), [`status`] (composing
//! statuses), [`fsio`] (atomic files, spare inodes), [`folder_watch`]
//! (waking up on a rename into a folder), [`metrics`].

pub mod adapter;
pub mod config;
pub mod daemon;
pub mod folder_watch;
pub mod fsio;
pub mod http;
pub mod journal;
pub mod metrics;
pub mod sent;
pub mod status;

pub use adapter::{folders, Adapter, SendOutcome, StartError, StatusRequest, SubmitError};
pub use config::{Config, ConfigError};
pub use daemon::{run, run_until};
