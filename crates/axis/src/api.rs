//! The transport interface used by adapters, tracker and CLI.

use std::time::Duration;

use async_trait::async_trait;

use crate::{AxisError, Envelope};

/// What the broker confirmed for one published envelope.
///
/// `publish` only returns `Ok` when every recipient's copy is confirmed; an
/// unknown recipient makes it return [`AxisError::Unroutable`] instead, so a
/// receipt never hides a partial delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishReceipt {
    /// The envelope's message id.
    pub message_id: String,
    /// Recipients whose queue durably holds the message.
    pub delivered: Vec<String>,
}

/// Why a message is in a dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The reason: the text given to [`Delivery::refuse`], or
    /// `delivery_limit` when the message was retried too often.
    pub reason: String,
    /// The agency whose queue the message was dead-lettered from.
    pub queue_of: String,
}

/// How the caller settles a delivery. Internal: callers use the methods of
/// [`Delivery`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Ack,
    Retry,
    Refuse(String),
}

/// Implementation side of one delivery's settlement.
#[async_trait]
pub(crate) trait Settle: Send + Sync {
    /// Settle the delivery. Called at most once.
    async fn settle(self: Box<Self>, outcome: Outcome) -> Result<(), AxisError>;
    /// The delivery was dropped unsettled: give the message back so that it
    /// is delivered again (never lose it).
    fn abandon(self: Box<Self>);
}

/// One message handed to a consumer.
///
/// It must be settled exactly once with [`ack`](Delivery::ack),
/// [`retry`](Delivery::retry) or [`refuse`](Delivery::refuse); each takes
/// the delivery by value, so settling twice does not compile. A delivery
/// dropped without settlement is given back to the queue (as a retry) and
/// a warning is logged: forgetting to settle delays a message, it never
/// loses one.
#[must_use = "a delivery must be settled with ack(), retry() or refuse()"]
pub struct Delivery {
    /// The envelope as sent. Its digest and message id are computed from
    /// the payload on first use, never taken from the wire.
    pub envelope: Envelope,
    /// The recipient this copy was routed to: the inbox's agency, or for a
    /// tap delivery the recipient the tracked copy went to (the tracker
    /// follows each (document, recipient) pair).
    pub delivered_to: String,
    /// The broker (or embedded axis) delivered this message before and it
    /// was not acknowledged: the receiver may already have processed it.
    pub redelivered: bool,
    /// 1 for the first delivery, 2 for the first redelivery, ...
    pub attempt: u32,
    /// Set on deliveries read from a dead-letter queue.
    pub dead_letter: Option<DeadLetter>,
    pub(crate) settle: Option<Box<dyn Settle>>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("message_id", &self.envelope.message_id())
            .field("kind", &self.envelope.kind())
            .field("sender", &self.envelope.sender())
            .field("delivered_to", &self.delivered_to)
            .field("redelivered", &self.redelivered)
            .field("attempt", &self.attempt)
            .field("dead_letter", &self.dead_letter)
            .finish()
    }
}

impl Delivery {
    async fn finish(mut self, outcome: Outcome) -> Result<(), AxisError> {
        match self.settle.take() {
            Some(s) => s.settle(outcome).await,
            None => Ok(()),
        }
    }

    /// The receiver's durable effect is done: remove the message for good.
    pub async fn ack(self) -> Result<(), AxisError> {
        self.finish(Outcome::Ack).await
    }

    /// Temporary failure: put the message back to be delivered again. Once
    /// the queue's delivery limit is reached it goes to the dead-letter
    /// queue with reason `delivery_limit` instead of looping forever.
    pub async fn retry(self) -> Result<(), AxisError> {
        self.finish(Outcome::Retry).await
    }

    /// Permanent failure (bad signature, unknown format...): move the
    /// message to the agency's dead-letter queue with `reason` kept.
    pub async fn refuse(self, reason: impl Into<String>) -> Result<(), AxisError> {
        self.finish(Outcome::Refuse(reason.into())).await
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        if let Some(s) = self.settle.take() {
            tracing::warn!(
                message_id = self.envelope.message_id(),
                "delivery dropped without settlement; giving it back for redelivery"
            );
            s.abandon();
        }
    }
}

/// Implementation side of a consumer.
#[async_trait]
pub(crate) trait Source: Send {
    async fn next(&mut self) -> Option<Result<Delivery, AxisError>>;
    async fn close(&mut self) -> Result<(), AxisError>;
}

/// A stream of deliveries from one queue (an agency's inbox, its
/// dead-letter queue, or the tracker's tap).
pub struct Consumer {
    pub(crate) source: Box<dyn Source>,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Consumer")
    }
}

impl Consumer {
    /// Wait for the next delivery. `None` once the consumer is closed.
    ///
    /// Connection loss is handled inside (reconnect, consume again); an
    /// `Err` reports a problem the caller should know about (e.g. a message
    /// that could not be decoded and was dead-lettered) and the consumer
    /// stays usable.
    pub async fn next(&mut self) -> Option<Result<Delivery, AxisError>> {
        self.source.next().await
    }

    /// Like [`next`](Consumer::next) but gives up after `timeout`
    /// (returns `None` then).
    pub async fn next_timeout(&mut self, timeout: Duration) -> Option<Result<Delivery, AxisError>> {
        tokio::time::timeout(timeout, self.source.next())
            .await
            .ok()
            .flatten()
    }

    /// Stop consuming. Unsettled deliveries go back to the queue.
    pub async fn close(mut self) -> Result<(), AxisError> {
        self.source.close().await
    }
}

/// The transport: what adapters, tracker and CLI program against.
///
/// Implemented by [`crate::RabbitAxis`] (production) and
/// [`crate::EmbeddedAxis`] (one machine, no broker). Both give the same
/// guarantees: a confirmed publish survives a crash of the axis, delivery is
/// at-least-once and in order per (sender, recipient) as long as nothing is
/// retried, refused messages keep their reason in a dead-letter queue.
#[async_trait]
pub trait Axis: Send + Sync {
    /// Declare (idempotently) everything the given agencies need: their
    /// inbox, dead-letter queue and routes, plus the tracker's tap.
    async fn setup(&self, agencies: &[&str]) -> Result<(), AxisError>;

    /// Make sure what the given agencies need (and the tap) is there,
    /// declaring only what is missing: what an adapter or the tracker calls
    /// at start-up. Their own broker users may not declare anything, so a
    /// topology an administrator has declared (`docaxis broker setup`) is
    /// checked, not declared again; declaring it anyway would be refused by
    /// the broker (ACCESS_REFUSED, logged as an error by the client) on
    /// every start.
    async fn ensure(&self, agencies: &[&str]) -> Result<(), AxisError> {
        self.setup(agencies).await
    }

    /// Publish one envelope to each of its recipients. Returns once every
    /// copy is durably stored (publisher confirm / fsync). Unknown
    /// recipients give [`AxisError::Unroutable`] (the others still got it).
    /// Callers may run many publishes concurrently: they are pipelined up to
    /// the implementation's in-flight window.
    async fn publish(&self, envelope: &Envelope) -> Result<PublishReceipt, AxisError>;

    /// Publish several envelopes pipelined; results in the same order.
    async fn publish_all(&self, envelopes: &[Envelope]) -> Vec<Result<PublishReceipt, AxisError>> {
        futures_util::future::join_all(envelopes.iter().map(|e| self.publish(e))).await
    }

    /// Consume the inbox of `agency`: documents addressed to it and statuses
    /// about documents it sent.
    async fn consume(&self, agency: &str) -> Result<Consumer, AxisError>;

    /// Consume the dead-letter queue of `agency` (refused messages and
    /// messages over the delivery limit, with [`Delivery::dead_letter`] set).
    async fn dead_letters(&self, agency: &str) -> Result<Consumer, AxisError>;

    /// Consume the tap: one copy of every document and status for each
    /// recipient it was delivered to, for the tracker.
    async fn tap(&self) -> Result<Consumer, AxisError>;

    /// Close connections cleanly (with a timeout).
    async fn close(&self) -> Result<(), AxisError>;
}
