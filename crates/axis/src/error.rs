//! Typed errors of the transport.

use std::time::Duration;

/// Everything that can go wrong between a caller and the axis.
///
/// The variants are chosen so that a caller can tell "my input was wrong"
/// (`InvalidId`, `InvalidEnvelope`), "the document was not accepted"
/// (`Unroutable`, `Nacked`, `Timeout`) and "the transport is broken"
/// (`Broker`, `Io`, `Closed`) apart without parsing messages.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AxisError {
    /// An agency identifier is not usable as a routing key.
    #[error("invalid agency id {id:?}: {reason}")]
    InvalidId {
        /// The rejected identifier.
        id: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// The envelope is malformed (no recipients, duplicate recipients, digest mismatch...).
    #[error("invalid envelope: {0}")]
    InvalidEnvelope(String),
    /// Some recipients are unknown to the axis: the message was returned for
    /// them (RabbitMQ `mandatory` return) and delivered to the others.
    #[error("message {message_id} unroutable to {unroutable:?} (delivered to {delivered:?})")]
    Unroutable {
        /// Message id of the envelope.
        message_id: String,
        /// Recipients that no queue exists for.
        unroutable: Vec<String>,
        /// Recipients the message was confirmed for.
        delivered: Vec<String>,
    },
    /// The broker negatively acknowledged the message: it was not stored.
    #[error("broker refused to store message {message_id} (nack)")]
    Nacked {
        /// Message id of the envelope.
        message_id: String,
    },
    /// No confirmation arrived in time. The message may or may not have been
    /// stored; publishing it again is safe because receivers deduplicate.
    #[error("no confirmation for {message_id} within {after:?}")]
    Timeout {
        /// Message id of the envelope.
        message_id: String,
        /// How long the axis waited.
        after: Duration,
    },
    /// The broker refused an operation (permissions, identity, topology...).
    #[error("broker: {0}")]
    Broker(String),
    /// The broker connection is lost and could not be re-established in time.
    #[error("connection: {0}")]
    Connection(String),
    /// Settling a delivery failed because the channel it came on is gone.
    /// The broker will redeliver the message (at-least-once); nothing is lost.
    #[error("delivery channel gone before settlement; the message will be redelivered")]
    DeliveryStale,
    /// Local file-system error (embedded axis, certificate files...).
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The URL given to [`crate::connect`] is not understood.
    #[error("bad axis url {0:?}: expected amqp://, amqps:// or file://")]
    BadUrl(String),
    /// The axis (or consumer) has been closed.
    #[error("axis closed")]
    Closed,
    /// Provisioning of broker users failed.
    #[error("provision: {0}")]
    Provision(String),
}

impl From<lapin::Error> for AxisError {
    fn from(e: lapin::Error) -> Self {
        AxisError::Broker(e.to_string())
    }
}
