//! The production axis on RabbitMQ (lapin 4, tokio).
//!
//! # Topology (names start with [`RabbitOptions::prefix`], `docaxis` by default)
//!
//! | name | kind | purpose |
//! |---|---|---|
//! | `P.documents` | direct exchange | documents, routing key = recipient OrganId |
//! | `P.statuses` | direct exchange | statuses, routing key = original sender |
//! | `P.dead` | direct exchange | dead letters, routing key `in.<agency>` or `tap` |
//! | `P.in.<agency>` | quorum queue | the agency's inbox (documents and statuses) |
//! | `P.dlq.<agency>` | quorum queue | refused messages and messages over the delivery limit |
//! | `P.tap` / `P.tap.dlq` | quorum queues | a copy of everything, for the tracker |
//!
//! The tap is bound to `P.documents` and `P.statuses` once per agency with
//! the agency's key, not with a catch-all binding: a catch-all would make
//! every message routable, and the `mandatory` flag could no longer report
//! unknown recipients.
//!
//! One AMQP message is published per recipient (routing key = recipient):
//! each (document, recipient) pair is confirmed, returned or dead-lettered
//! on its own, which is exactly what the tracker follows.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions,
    BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions, ExchangeDeclareOptions,
    QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::tcp::{OwnedIdentity, OwnedTLSConfig};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind,
};
use tokio::sync::{Mutex, Semaphore};

use crate::api::{Outcome, Settle, Source};
use crate::{
    validate_agency_id, Axis, AxisError, Consumer, DeadLetter, Delivery, Envelope, Kind,
    PublishReceipt,
};

/// Header names. `x-docaxis-recipient` is the recipient of this copy; the
/// others mirror the envelope.
pub mod headers {
    /// `document` or `status`.
    pub const KIND: &str = "x-docaxis-kind";
    /// Sending agency.
    pub const SENDER: &str = "x-docaxis-sender";
    /// All recipients, comma-separated.
    pub const RECIPIENTS: &str = "x-docaxis-recipients";
    /// The recipient this copy is routed to.
    pub const RECIPIENT: &str = "x-docaxis-recipient";
    /// Signing key id.
    pub const KEY_ID: &str = "x-docaxis-key-id";
    /// Hex SHA-256 of the payload: for operators, never read back (the
    /// receiver computes it from the payload, see [`crate::Envelope`]).
    pub const DIGEST: &str = "x-docaxis-digest";
    /// Why the message was refused (set on dead letters).
    pub const REFUSAL_REASON: &str = "x-docaxis-refusal-reason";
    /// Whose queue the message was dead-lettered from.
    pub const DEAD_LETTER_QUEUE_OF: &str = "x-docaxis-dead-letter-queue-of";
}

/// TLS settings for `amqps://` (rustls).
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// PEM file with the CA certificate(s) that signed the broker's certificate.
    pub ca_pem: Option<std::path::PathBuf>,
    /// PEM client certificate (with `client_key_pem`) for mutual TLS.
    pub client_cert_pem: Option<std::path::PathBuf>,
    /// PEM (PKCS#8) private key of the client certificate.
    pub client_key_pem: Option<std::path::PathBuf>,
}

impl TlsOptions {
    fn load(&self) -> Result<OwnedTLSConfig, AxisError> {
        let cert_chain = match &self.ca_pem {
            Some(p) => Some(std::fs::read_to_string(p)?),
            None => None,
        };
        let identity = match (&self.client_cert_pem, &self.client_key_pem) {
            (Some(c), Some(k)) => Some(OwnedIdentity::PKCS8 {
                pem: std::fs::read(c)?,
                key: std::fs::read(k)?,
            }),
            (None, None) => None,
            _ => {
                return Err(AxisError::BadUrl(
                    "client certificate and key must be given together".into(),
                ))
            }
        };
        Ok(OwnedTLSConfig {
            identity,
            cert_chain,
        })
    }
}

/// Options of a [`RabbitAxis`].
#[derive(Debug, Clone)]
pub struct RabbitOptions {
    /// Prefix of every exchange and queue name (lets several axes, or test
    /// runs, share a vhost).
    pub prefix: String,
    /// Publisher-confirm window: messages published but not yet confirmed.
    /// Larger gives throughput, smaller gives latency.
    pub confirm_window: usize,
    /// Consumer prefetch (unacked deliveries the broker pushes ahead).
    pub prefetch: u16,
    /// A message delivered this many times without ack goes to the
    /// dead-letter queue (quorum `x-delivery-limit` = this − 1).
    pub max_deliveries: u32,
    /// Set the AMQP `user_id` property to the envelope's sender, so that the
    /// broker refuses a message whose sender is not the connection's user.
    /// Only a trusted relay or test harness connected as an admin user
    /// without the `impersonator` tag should turn this off.
    pub stamp_user_id: bool,
    /// How long `publish` keeps trying (reconnections included) before
    /// returning [`AxisError::Timeout`].
    pub publish_timeout: Duration,
    /// Longest pause between two reconnection attempts (exponential backoff from 100 ms).
    pub max_backoff: Duration,
    /// Time limit for closing channels and connections (a hang was seen
    /// once in ~30 runs when a channel was dropped before its connection).
    pub close_timeout: Duration,
    /// TLS material for `amqps://`.
    pub tls: TlsOptions,
    /// Declare the tracker's tap (and bind it for every agency). Turning it
    /// off saves one queue write per message where no tracker runs.
    pub tap: bool,
}

impl Default for RabbitOptions {
    fn default() -> Self {
        RabbitOptions {
            prefix: "docaxis".into(),
            confirm_window: 256,
            prefetch: 256,
            max_deliveries: 20,
            stamp_user_id: true,
            publish_timeout: Duration::from_secs(60),
            max_backoff: Duration::from_secs(5),
            close_timeout: Duration::from_secs(5),
            tls: TlsOptions::default(),
            tap: true,
        }
    }
}

/// Queue names of the topology.
#[derive(Debug, Clone)]
struct Names {
    p: String,
    /// `P.documents` and `P.statuses`, built once: every publish names one.
    documents: String,
    statuses: String,
}

impl Names {
    fn new(prefix: &str) -> Names {
        Names {
            p: prefix.to_string(),
            documents: format!("{prefix}.documents"),
            statuses: format!("{prefix}.statuses"),
        }
    }
    fn documents(&self) -> String {
        self.documents.clone()
    }
    fn statuses(&self) -> String {
        self.statuses.clone()
    }
    fn dead(&self) -> String {
        format!("{}.dead", self.p)
    }
    fn inbox(&self, a: &str) -> String {
        format!("{}.in.{a}", self.p)
    }
    fn dlq(&self, a: &str) -> String {
        format!("{}.dlq.{a}", self.p)
    }
    fn tap(&self) -> String {
        format!("{}.tap", self.p)
    }
    fn tap_dlq(&self) -> String {
        format!("{}.tap.dlq", self.p)
    }
    fn exchange_for(&self, kind: Kind) -> &str {
        match kind {
            Kind::Document => &self.documents,
            Kind::Status => &self.statuses,
        }
    }
}

/// Which queue a consumer reads, and where its refusals go.
#[derive(Debug, Clone)]
struct QueueRef {
    queue: String,
    /// Agency (or `tracker`).
    owner: String,
    /// Routing key on `P.dead` for refusals; `None` for dead-letter queues.
    dead_key: Option<String>,
}

struct Live {
    conn: Arc<Connection>,
    generation: u64,
}

struct PubChannel {
    /// Shared so that a publish can release the lock and still await its
    /// frames being written on this channel.
    channel: Arc<Channel>,
    generation: u64,
}

struct Shared {
    url: String,
    username: String,
    opts: RabbitOptions,
    names: Names,
    tls: OwnedTLSConfig,
    conn: Mutex<Option<Live>>,
    generation: AtomicU64,
    publisher: Mutex<Option<PubChannel>>,
    window: Semaphore,
    closed: AtomicBool,
    consumer_seq: AtomicU64,
}

/// The RabbitMQ axis. Cheap to clone (clones share the connection).
#[derive(Clone)]
pub struct RabbitAxis {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for RabbitAxis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RabbitAxis")
            .field("user", &self.shared.username)
            .field("prefix", &self.shared.names.p)
            .finish()
    }
}

/// A message handed to lapin, waiting for its confirm (holds a window slot).
struct Sent<'a> {
    confirm: lapin::PublisherConfirm,
    generation: u64,
    _permit: tokio::sync::SemaphorePermit<'a>,
}

/// A publish attempt that failed in a way worth retrying.
struct Failure {
    error: lapin::Error,
    generation: u64,
}

/// What the broker said about one recipient's copy.
enum CopyOutcome {
    Stored,
    Returned,
}

fn short(s: &str) -> ShortString {
    s.into()
}

fn long(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s.as_bytes().to_vec()))
}

fn header_str<'a>(h: &'a FieldTable, key: &str) -> Option<&'a [u8]> {
    match h.inner().get(key)? {
        AMQPValue::LongString(s) => Some(s.as_bytes()),
        AMQPValue::ShortString(s) => Some(s.as_str().as_bytes()),
        _ => None,
    }
}

fn header_string(h: &FieldTable, key: &str) -> Option<String> {
    header_str(h, key).and_then(|b| std::str::from_utf8(b).ok().map(str::to_string))
}

fn header_int(h: &FieldTable, key: &str) -> Option<i64> {
    match h.inner().get(key)? {
        AMQPValue::LongLongInt(v) => Some(*v),
        AMQPValue::LongInt(v) => Some(i64::from(*v)),
        AMQPValue::LongUInt(v) => Some(i64::from(*v)),
        AMQPValue::ShortInt(v) => Some(i64::from(*v)),
        AMQPValue::ShortUInt(v) => Some(i64::from(*v)),
        AMQPValue::ShortShortInt(v) => Some(i64::from(*v)),
        AMQPValue::ShortShortUInt(v) => Some(i64::from(*v)),
        _ => None,
    }
}

impl RabbitAxis {
    /// Connect to the broker at `url` (`amqp://user:pass@host:port/vhost` or
    /// `amqps://...`). Does not declare anything: call [`Axis::setup`]
    /// from an administrative connection for that.
    pub async fn connect(url: &str, opts: RabbitOptions) -> Result<RabbitAxis, AxisError> {
        let parsed: lapin::uri::AMQPUri = url
            .parse()
            .map_err(|e: String| AxisError::BadUrl(format!("{url}: {e}")))?;
        let tls = opts.tls.load()?;
        let shared = Arc::new(Shared {
            url: url.to_string(),
            username: parsed.authority.userinfo.username.clone(),
            names: Names::new(&opts.prefix),
            window: Semaphore::new(opts.confirm_window.max(1)),
            opts,
            tls,
            conn: Mutex::new(None),
            generation: AtomicU64::new(0),
            publisher: Mutex::new(None),
            closed: AtomicBool::new(false),
            consumer_seq: AtomicU64::new(0),
        });
        // Fail fast on a wrong URL or credentials instead of retrying.
        shared.connection(0).await?;
        Ok(RabbitAxis { shared })
    }

    /// The user name this axis is connected as.
    pub fn username(&self) -> &str {
        &self.shared.username
    }

    /// Delete the exchanges and queues of the given agencies and the shared
    /// ones (tap, exchanges). For tests and decommissioning: messages in
    /// the deleted queues are lost.
    pub async fn teardown(&self, agencies: &[&str]) -> Result<(), AxisError> {
        let (conn, _) = self.shared.connection(0).await?;
        let ch = conn.create_channel().await?;
        let n = &self.shared.names;
        let mut queues = vec![n.tap(), n.tap_dlq()];
        for a in agencies {
            queues.push(n.inbox(a));
            queues.push(n.dlq(a));
        }
        for q in queues {
            ch.queue_delete(short(&q), QueueDeleteOptions::default())
                .await?;
        }
        for x in [n.documents(), n.statuses(), n.dead()] {
            ch.exchange_delete(short(&x), Default::default()).await?;
        }
        self.shared.close_channel(&ch).await;
        Ok(())
    }

    /// Count of ready messages in a queue of this axis's topology, by its
    /// full name (a passive declare). Used by tests and `broker status`.
    pub async fn queue_depth(&self, queue: &str) -> Result<u32, AxisError> {
        let (conn, _) = self.shared.connection(0).await?;
        let ch = conn.create_channel().await?;
        let q = ch
            .queue_declare(
                short(queue),
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await;
        self.shared.close_channel(&ch).await;
        Ok(q?.message_count())
    }

    /// Full name of the exchange messages of `kind` are published to.
    pub fn exchange_name(&self, kind: Kind) -> String {
        self.shared.names.exchange_for(kind).to_string()
    }

    /// Full name of the inbox queue of `agency`.
    pub fn inbox_queue(&self, agency: &str) -> String {
        self.shared.names.inbox(agency)
    }

    async fn consumer(&self, q: QueueRef) -> Result<Consumer, AxisError> {
        let mut source = RabbitSource {
            shared: self.shared.clone(),
            q: Arc::new(q),
            live: None,
            subscribing: None,
            backoff: Duration::from_millis(100),
        };
        // The first subscription is made here so that a missing queue or a
        // permission error is reported by `consume` itself.
        source.subscribe().await?;
        Ok(Consumer {
            source: Box::new(source),
        })
    }
}

impl Shared {
    async fn dial(&self) -> Result<Connection, AxisError> {
        let props = ConnectionProperties::default().with_connection_name(LongString::from(
            format!("docaxis-axis {}", std::process::id()),
        ));
        Connection::connect_with_config(
            &self.url,
            props,
            self.tls.clone(),
            lapin::runtime::default_runtime()?,
        )
        .await
        .map_err(|e| AxisError::Connection(e.to_string()))
    }

    /// A connected connection newer than `failed_generation` (0: any),
    /// reconnecting with exponential backoff if needed, until
    /// `publish_timeout`. Single-flight: the lock is held while dialing so
    /// that publishers and consumers failing together open one connection.
    /// lapin's own auto-recovery is not used: it is new, and recovery here
    /// must also republish unconfirmed messages, which only we know about.
    async fn connection(
        &self,
        failed_generation: u64,
    ) -> Result<(Arc<Connection>, u64), AxisError> {
        let deadline = Instant::now() + self.opts.publish_timeout;
        let mut backoff = Duration::from_millis(100);
        loop {
            if self.closed.load(Ordering::SeqCst) {
                return Err(AxisError::Closed);
            }
            let mut guard = self.conn.lock().await;
            if let Some(live) = guard.as_ref() {
                if live.conn.status().connected() && live.generation > failed_generation {
                    return Ok((live.conn.clone(), live.generation));
                }
            }
            // Dead or known-bad: drop it, closing in the background with a
            // bound so that a hung close cannot block recovery.
            if let Some(old) = guard.take() {
                let t = self.opts.close_timeout;
                tokio::spawn(async move {
                    let _ =
                        tokio::time::timeout(t, old.conn.close(320, short("reconnecting"))).await;
                });
            }
            match self.dial().await {
                Ok(conn) => {
                    let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
                    let conn = Arc::new(conn);
                    *guard = Some(Live {
                        conn: conn.clone(),
                        generation,
                    });
                    if generation > 1 {
                        tracing::info!(generation, "reconnected to broker");
                    }
                    return Ok((conn, generation));
                }
                Err(e) => {
                    drop(guard);
                    if failed_generation == 0 && self.generation.load(Ordering::SeqCst) == 0 {
                        // Never connected: a wrong URL or credentials, not an outage.
                        return Err(e);
                    }
                    if Instant::now() + backoff > deadline {
                        return Err(e);
                    }
                    tracing::warn!(error = %e, ?backoff, "broker unreachable, retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(self.opts.max_backoff);
                }
            }
        }
    }

    async fn close_channel(&self, ch: &Channel) {
        if ch.status().connected() {
            let _ =
                tokio::time::timeout(self.opts.close_timeout, ch.close(200, short("bye"))).await;
        }
    }

    /// Publish one AMQP message and wait for its confirm, reconnecting and
    /// publishing again on connection loss (the receiver deduplicates).
    async fn publish_raw(
        &self,
        exchange: &str,
        routing_key: &str,
        props: BasicProperties,
        payload: &[u8],
        message_id: &str,
    ) -> Result<CopyOutcome, AxisError> {
        let deadline = Instant::now() + self.opts.publish_timeout;
        let timeout = || AxisError::Timeout {
            message_id: message_id.to_string(),
            after: self.opts.publish_timeout,
        };
        let mut channel_errors = 0;
        let mut failed_gen = 0;
        loop {
            let failure = match self
                .send(exchange, routing_key, &props, payload, failed_gen)
                .await?
            {
                Err(f) => f,
                Ok(sent) => {
                    let remaining = deadline.saturating_duration_since(Instant::now());
                    match tokio::time::timeout(remaining, sent.confirm).await {
                        Err(_) => return Err(timeout()),
                        Ok(Ok(Confirmation::Ack(None))) => return Ok(CopyOutcome::Stored),
                        Ok(Ok(Confirmation::Ack(Some(_)))) => return Ok(CopyOutcome::Returned),
                        Ok(Ok(Confirmation::Nack(_))) => {
                            return Err(AxisError::Nacked {
                                message_id: message_id.to_string(),
                            })
                        }
                        Ok(Ok(Confirmation::NotRequested)) => {
                            return Err(AxisError::Broker("publisher confirms not enabled".into()))
                        }
                        Ok(Err(error)) => Failure {
                            error,
                            generation: sent.generation,
                        },
                    }
                }
            };
            // Forget a closed publisher channel so the next attempt opens a new one.
            {
                let mut guard = self.publisher.lock().await;
                if guard
                    .as_ref()
                    .is_some_and(|p| !p.channel.status().connected())
                {
                    *guard = None;
                }
            }
            let conn_alive =
                self.conn.lock().await.as_ref().is_some_and(|l| {
                    l.generation == failure.generation && l.conn.status().connected()
                });
            if conn_alive {
                // The broker closed the channel (e.g. user_id is not the
                // connection's user, or no write permission). Messages that
                // were merely in flight on the same channel succeed on a new
                // one; the culprit fails again and is reported.
                channel_errors += 1;
                if channel_errors >= 3 {
                    return Err(AxisError::Broker(failure.error.to_string()));
                }
            } else {
                tracing::warn!(error = %failure.error, message_id, "connection lost while publishing; publishing again");
                failed_gen = failure.generation;
            }
            if Instant::now() >= deadline {
                return Err(timeout());
            }
        }
    }

    /// Take a window slot and hand one message to lapin on the confirm
    /// channel (opening it, reconnecting if needed). The outer error is
    /// final; the inner one is a failure worth retrying.
    async fn send(
        &self,
        exchange: &str,
        routing_key: &str,
        props: &BasicProperties,
        payload: &[u8],
        failed_gen: u64,
    ) -> Result<Result<Sent<'_>, Failure>, AxisError> {
        // `unconstrained`: tokio's cooperative budget would otherwise make
        // some acquisitions return Pending without queueing, and publishes
        // started in order could reach the broker out of order. Both the
        // semaphore and the mutex are FIFO.
        let permit = tokio::task::unconstrained(self.window.acquire())
            .await
            .map_err(|_| AxisError::Closed)?;
        // The frames must be queued in call order, so they are queued under
        // the lock; but lapin's `basic_publish` then waits until its I/O
        // thread has written them to the socket, and holding the lock for
        // that would allow one message per I/O-thread wake-up. So the
        // publish future is polled once under the lock (which queues the
        // frames and registers the confirm: both happen before its first
        // await point) and awaited after the lock is released, letting the
        // I/O thread write many queued messages per wake-up.
        let mut guard = tokio::task::unconstrained(self.publisher.lock()).await;
        if !guard
            .as_ref()
            .is_some_and(|p| p.channel.status().connected())
        {
            *guard = Some(self.new_publisher_channel(failed_gen).await?);
        }
        let p = guard.as_ref().expect("publisher channel just set");
        let (channel, generation) = (p.channel.clone(), p.generation);
        let mut publish = std::pin::pin!(channel.basic_publish(
            short(exchange),
            short(routing_key),
            BasicPublishOptions {
                mandatory: true,
                immediate: false,
            },
            payload,
            props.clone(),
        ));
        let first = poll_once(publish.as_mut()).await;
        drop(guard);
        let res = match first {
            Poll::Ready(r) => r,
            Poll::Pending => publish.await,
        };
        Ok(match res {
            Ok(confirm) => Ok(Sent {
                confirm,
                generation,
                _permit: permit,
            }),
            Err(error) => Err(Failure { error, generation }),
        })
    }

    async fn new_publisher_channel(&self, failed_gen: u64) -> Result<PubChannel, AxisError> {
        let mut failed = failed_gen;
        let deadline = Instant::now() + self.opts.publish_timeout;
        loop {
            let (conn, generation) = self.connection(failed).await?;
            let attempt = async {
                let ch = conn.create_channel().await?;
                ch.confirm_select(ConfirmSelectOptions::default()).await?;
                Ok::<_, lapin::Error>(ch)
            }
            .await;
            match attempt {
                Ok(channel) => {
                    return Ok(PubChannel {
                        channel: Arc::new(channel),
                        generation,
                    })
                }
                Err(e) if Instant::now() < deadline && !conn.status().connected() => {
                    tracing::warn!(error = %e, "publisher channel failed; reconnecting");
                    failed = generation;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// The AMQP properties of one recipient's copy of `env`: persistent,
/// `message_id` = digest, the envelope's metadata as headers, and
/// `user_id` = sender when the broker is to check the sender's identity.
pub(crate) fn message_properties(
    env: &Envelope,
    recipient: &str,
    stamp_user_id: bool,
) -> BasicProperties {
    let mut h = FieldTable::default();
    h.insert(short(headers::KIND), long(env.kind().as_str()));
    h.insert(short(headers::SENDER), long(env.sender()));
    h.insert(
        short(headers::RECIPIENTS),
        long(&env.recipients().join(",")),
    );
    h.insert(short(headers::RECIPIENT), long(recipient));
    h.insert(short(headers::KEY_ID), long(env.key_id()));
    h.insert(short(headers::DIGEST), long(env.digest()));
    let props = BasicProperties::default()
        .with_delivery_mode(2)
        .with_message_id(short(env.message_id()))
        .with_content_type(short("application/octet-stream"))
        .with_timestamp(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        )
        .with_headers(h);
    if stamp_user_id {
        props.with_user_id(short(env.sender()))
    } else {
        props
    }
}

impl RabbitAxis {
    async fn setup_impl(&self, agencies: &[&str]) -> Result<(), AxisError> {
        for a in agencies {
            validate_agency_id(a)?;
        }
        match self.declare(agencies).await {
            Ok(()) => Ok(()),
            // An agency's own user may not declare anything (configure
            // `^$`): at start-up it can only check that an administrator
            // has run `docaxis broker setup`.
            Err(AxisError::Broker(msg)) if msg.contains("ACCESS_REFUSED") => {
                self.verify(agencies).await.map_err(|e| {
                    AxisError::Broker(format!(
                        "{e}; user {} may not declare the topology: run `docaxis broker setup` as an administrator",
                        self.shared.username
                    ))
                })
            }
            Err(e) => Err(e),
        }
    }
}

impl RabbitAxis {
    /// Check (passively, declaring nothing) that the exchanges, the
    /// queues of `agencies` and, when this axis feeds a tap, the tap exist.
    /// What an agency's own user can do at start-up.
    pub async fn verify(&self, agencies: &[&str]) -> Result<(), AxisError> {
        let n = &self.shared.names;
        let (conn, _) = self.shared.connection(0).await?;
        // A failed passive declare closes its channel: one channel per check.
        let passive_exchange = |x: String| {
            let conn = conn.clone();
            async move {
                let ch = conn.create_channel().await?;
                let r = ch
                    .exchange_declare(
                        short(&x),
                        ExchangeKind::Direct,
                        ExchangeDeclareOptions {
                            passive: true,
                            ..Default::default()
                        },
                        FieldTable::default(),
                    )
                    .await
                    .map_err(|e| AxisError::Broker(format!("exchange {x}: {e}")));
                self.shared.close_channel(&ch).await;
                r
            }
        };
        for x in [n.documents(), n.statuses(), n.dead()] {
            passive_exchange(x).await?;
        }
        // Only the inboxes (and the tap): a DLQ's existence is checked by
        // the broker when the first refusal is published.
        let tap = self.shared.opts.tap.then(|| n.tap());
        for q in agencies.iter().map(|a| n.inbox(a)).chain(tap) {
            let ch = conn.create_channel().await?;
            let r = ch
                .queue_declare(
                    short(&q),
                    QueueDeclareOptions {
                        passive: true,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await;
            self.shared.close_channel(&ch).await;
            r.map_err(|e| AxisError::Broker(format!("queue {q}: {e}")))?;
        }
        Ok(())
    }

    /// Declare the whole topology for `agencies` (administrator).
    async fn declare(&self, agencies: &[&str]) -> Result<(), AxisError> {
        let n = &self.shared.names;
        let (conn, _) = self.shared.connection(0).await?;
        let ch = conn.create_channel().await?;
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        };
        for x in [n.documents(), n.statuses(), n.dead()] {
            ch.exchange_declare(
                short(&x),
                ExchangeKind::Direct,
                durable,
                FieldTable::default(),
            )
            .await?;
        }
        let quorum = |dead_key: Option<&str>| {
            let mut args = FieldTable::default();
            args.insert(short("x-queue-type"), long("quorum"));
            if let Some(key) = dead_key {
                // Quorum queues count returns; above the limit the message
                // is dead-lettered instead of looping (poison messages).
                args.insert(
                    short("x-delivery-limit"),
                    AMQPValue::LongInt(self.shared.opts.max_deliveries.saturating_sub(1) as i32),
                );
                args.insert(short("x-dead-letter-exchange"), long(&n.dead()));
                args.insert(short("x-dead-letter-routing-key"), long(key));
            }
            args
        };
        let qopts = QueueDeclareOptions {
            durable: true,
            ..Default::default()
        };
        let bind = |q: String, x: String, key: String| {
            let ch = ch.clone();
            async move {
                ch.queue_bind(
                    short(&q),
                    short(&x),
                    short(&key),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
            }
        };
        let tap = self.shared.opts.tap;
        if tap {
            ch.queue_declare(short(&n.tap()), qopts, quorum(Some("tap")))
                .await?;
            ch.queue_declare(short(&n.tap_dlq()), qopts, quorum(None))
                .await?;
            bind(n.tap_dlq(), n.dead(), "tap".into()).await?;
        }
        for a in agencies {
            let dead_key = format!("in.{a}");
            ch.queue_declare(short(&n.inbox(a)), qopts, quorum(Some(&dead_key)))
                .await?;
            ch.queue_declare(short(&n.dlq(a)), qopts, quorum(None))
                .await?;
            for x in [n.documents(), n.statuses()] {
                bind(n.inbox(a), x.clone(), a.to_string()).await?;
                if tap {
                    bind(n.tap(), x, a.to_string()).await?;
                }
            }
            bind(n.dlq(a), n.dead(), dead_key).await?;
        }
        self.shared.close_channel(&ch).await;
        Ok(())
    }
}

#[async_trait]
impl Axis for RabbitAxis {
    async fn setup(&self, agencies: &[&str]) -> Result<(), AxisError> {
        RabbitAxis::setup_impl(self, agencies).await
    }

    async fn ensure(&self, agencies: &[&str]) -> Result<(), AxisError> {
        for a in agencies {
            validate_agency_id(a)?;
        }
        match self.verify(agencies).await {
            Ok(()) => Ok(()),
            Err(missing) => {
                tracing::info!(%missing, "topology incomplete: declaring it");
                RabbitAxis::setup_impl(self, agencies).await
            }
        }
    }

    async fn publish(&self, env: &Envelope) -> Result<PublishReceipt, AxisError> {
        let shared = &self.shared;
        let exchange = shared.names.exchange_for(env.kind());
        let stamp = shared.opts.stamp_user_id;
        if let [r] = env.recipients() {
            // The common case: no fan-out bookkeeping.
            let props = message_properties(env, r, stamp);
            return match shared
                .publish_raw(exchange, r, props, env.payload(), env.message_id())
                .await?
            {
                CopyOutcome::Stored => Ok(PublishReceipt {
                    message_id: env.message_id().to_string(),
                    delivered: vec![r.clone()],
                }),
                CopyOutcome::Returned => Err(AxisError::Unroutable {
                    message_id: env.message_id().to_string(),
                    unroutable: vec![r.clone()],
                    delivered: vec![],
                }),
            };
        }
        let copies = env.recipients().iter().map(|r| {
            let props = message_properties(env, r, stamp);
            async move {
                let out = shared
                    .publish_raw(exchange, r, props, env.payload(), env.message_id())
                    .await;
                (r.clone(), out)
            }
        });
        let results = futures_util::future::join_all(copies).await;
        let mut delivered = Vec::new();
        let mut unroutable = Vec::new();
        for (r, out) in results {
            match out? {
                CopyOutcome::Stored => delivered.push(r),
                CopyOutcome::Returned => unroutable.push(r),
            }
        }
        if unroutable.is_empty() {
            Ok(PublishReceipt {
                message_id: env.message_id().to_string(),
                delivered,
            })
        } else {
            Err(AxisError::Unroutable {
                message_id: env.message_id().to_string(),
                unroutable,
                delivered,
            })
        }
    }

    async fn consume(&self, agency: &str) -> Result<Consumer, AxisError> {
        validate_agency_id(agency)?;
        self.consumer(QueueRef {
            queue: self.shared.names.inbox(agency),
            owner: agency.to_string(),
            dead_key: Some(format!("in.{agency}")),
        })
        .await
    }

    async fn dead_letters(&self, agency: &str) -> Result<Consumer, AxisError> {
        validate_agency_id(agency)?;
        self.consumer(QueueRef {
            queue: self.shared.names.dlq(agency),
            owner: agency.to_string(),
            dead_key: None,
        })
        .await
    }

    async fn tap(&self) -> Result<Consumer, AxisError> {
        self.consumer(QueueRef {
            queue: self.shared.names.tap(),
            owner: "tracker".into(),
            dead_key: Some("tap".into()),
        })
        .await
    }

    async fn close(&self) -> Result<(), AxisError> {
        self.shared.closed.store(true, Ordering::SeqCst);
        self.shared.window.close();
        if let Some(p) = self.shared.publisher.lock().await.take() {
            self.shared.close_channel(&p.channel).await;
        }
        if let Some(live) = self.shared.conn.lock().await.take() {
            let _ = tokio::time::timeout(
                self.shared.opts.close_timeout,
                live.conn.close(200, short("bye")),
            )
            .await;
        }
        Ok(())
    }
}

struct LiveConsumer {
    /// Shared with every delivery's settle handle (an `Arc` clone per
    /// delivery instead of a lapin `Channel` clone, which is a dozen).
    channel: Arc<ConsumerChannel>,
    consumer: lapin::Consumer,
    tag: String,
}

/// At most this many acks and nacks wait for lapin's I/O thread on one
/// consuming channel; beyond that the settling caller waits for the oldest
/// (back-pressure if the I/O thread is stuck, not an unbounded queue).
const MAX_UNWRITTEN: usize = 4096;

/// One ack or nack lapin has queued but not yet reported written.
struct Unwritten {
    what: &'static str,
    tag: u64,
    written: WriteFuture,
}

/// Which settlement frame to send.
#[derive(Debug, Clone, Copy)]
enum Frame {
    Ack,
    Nack { requeue: bool },
}

/// A consuming channel, and the acks and nacks queued on it.
///
/// # Why settling does not wait for the write
///
/// `Channel::basic_ack` queues its frame (under lapin's frame lock, so
/// frames leave in call order) before its first await point; the rest of
/// the future only waits until lapin's I/O thread has written the frame to
/// the socket. Waiting for that bought nothing (AMQP acks are never
/// confirmed: a written ack is lost with the connection just like a queued
/// one, and the broker then delivers the message again) but it cost every
/// consumer loop a round trip to the I/O thread per message: the RabbitMQ
/// axis ran at half of bare lapin's throughput. So [`queue`] polls the
/// future once (which queues the frame, or fails at once if the channel
/// is closed) and keeps the rest here. Each later settlement, and the
/// consumer when it closes or resubscribes, collects the written ones; a
/// frame that could not be written (the channel closed first) is logged
/// and marks the channel broken, so that the consumer resubscribes and
/// the broker delivers those messages again. An ack is still only ever
/// queued after the caller said its durable effect is done, one delivery
/// tag at a time (never `multiple`: nothing to misorder into a
/// PRECONDITION_FAILED for an unknown tag).
///
/// [`queue`]: ConsumerChannel::queue
struct ConsumerChannel {
    channel: Arc<Channel>,
    queue: String,
    unwritten: std::sync::Mutex<std::collections::VecDeque<Unwritten>>,
    /// A queued frame could not be written: the consumer must resubscribe.
    broken: AtomicBool,
}

impl ConsumerChannel {
    fn new(channel: Channel, queue: &str) -> ConsumerChannel {
        ConsumerChannel {
            channel: Arc::new(channel),
            queue: queue.to_string(),
            unwritten: std::sync::Mutex::new(std::collections::VecDeque::new()),
            broken: AtomicBool::new(false),
        }
    }

    /// Hand one ack or nack to lapin (see the type's documentation) and
    /// collect the frames written since the last call. `Err` when the frame
    /// cannot even be queued (channel closed).
    fn queue(&self, tag: u64, frame: Frame) -> lapin::Result<()> {
        let ch = self.channel.clone();
        let (what, mut written): (&'static str, WriteFuture) = match frame {
            Frame::Ack => (
                "ack",
                Box::pin(async move { ch.basic_ack(tag, BasicAckOptions::default()).await }),
            ),
            Frame::Nack { requeue } => (
                "nack",
                Box::pin(async move {
                    ch.basic_nack(
                        tag,
                        BasicNackOptions {
                            multiple: false,
                            requeue,
                        },
                    )
                    .await
                }),
            ),
        };
        // A waker that does nothing: nobody waits for the write; whoever
        // settles next (or the consumer) polls again.
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let mut unwritten = self.unwritten.lock().unwrap_or_else(|e| e.into_inner());
        let first = written.as_mut().poll(&mut cx);
        if first.is_pending() {
            unwritten.push_back(Unwritten { what, tag, written });
        }
        self.collect(&mut unwritten, &mut cx);
        match first {
            Poll::Ready(r) => r,
            Poll::Pending => Ok(()),
        }
    }

    /// Like [`queue`](ConsumerChannel::queue), then wait while more than
    /// [`MAX_UNWRITTEN`] frames are waiting for the I/O thread.
    async fn settle(&self, tag: u64, frame: Frame) -> lapin::Result<()> {
        self.queue(tag, frame)?;
        loop {
            let oldest = {
                let mut unwritten = self.unwritten.lock().unwrap_or_else(|e| e.into_inner());
                if unwritten.len() <= MAX_UNWRITTEN {
                    return Ok(());
                }
                unwritten.pop_front()
            };
            if let Some(mut u) = oldest {
                let r = u.written.as_mut().await;
                self.check(&u, r);
            }
        }
    }

    /// Take out the frames at the front that are written (or failed).
    fn collect(
        &self,
        unwritten: &mut std::collections::VecDeque<Unwritten>,
        cx: &mut std::task::Context<'_>,
    ) {
        while let Some(front) = unwritten.front_mut() {
            match front.written.as_mut().poll(cx) {
                Poll::Pending => break,
                Poll::Ready(r) => {
                    if let Some(u) = unwritten.pop_front() {
                        self.check(&u, r);
                    }
                }
            }
        }
    }

    fn check(&self, u: &Unwritten, written: lapin::Result<()>) {
        if let Err(e) = written {
            self.broken.store(true, Ordering::SeqCst);
            tracing::warn!(
                queue = self.queue,
                delivery_tag = u.tag,
                error = %e,
                "{} not written: the channel closed first; the broker delivers the message again",
                u.what
            );
        }
    }

    /// Wait (up to `timeout`) until every queued frame is written, logging
    /// those that cannot be: before the channel is closed or abandoned.
    async fn flush(&self, timeout: Duration) {
        let pending: Vec<Unwritten> = self
            .unwritten
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
            .collect();
        let deadline = tokio::time::Instant::now() + timeout;
        for mut u in pending {
            match tokio::time::timeout_at(deadline, u.written.as_mut()).await {
                Ok(r) => self.check(&u, r),
                Err(_) => {
                    tracing::warn!(
                        queue = self.queue,
                        delivery_tag = u.tag,
                        "{} not written within {timeout:?}; the broker delivers the message again if it is lost",
                        u.what
                    );
                }
            }
        }
    }
}

/// lapin's ack or nack future after its first poll: waiting for the write.
type WriteFuture = std::pin::Pin<Box<dyn Future<Output = lapin::Result<()>> + Send>>;

struct RabbitSource {
    shared: Arc<Shared>,
    q: Arc<QueueRef>,
    live: Option<LiveConsumer>,
    /// A subscription in progress, on a task of its own. Kept here, not in
    /// the `next` future, so that `next` is cancel-safe: a caller that drops
    /// `next` (the adapter's `select!` does) while a subscription is being
    /// made must not leave a consuming channel nobody reads — the broker
    /// would hand it a prefetch of messages that stay unacknowledged, and
    /// so undeliverable, until the connection closes (found by the fault
    /// suite after a broker restart).
    subscribing: Option<tokio::task::JoinHandle<Result<LiveConsumer, AxisError>>>,
    backoff: Duration,
}

impl RabbitSource {
    /// Subscribes, to completion even if the caller stops waiting.
    async fn subscribe(&mut self) -> Result<(), AxisError> {
        self.live = None;
        let running = match self.subscribing.take() {
            Some(running) => running,
            None => tokio::spawn(Self::open_consumer(self.shared.clone(), self.q.clone())),
        };
        let running = self.subscribing.insert(running);
        let result = running.await;
        self.subscribing = None;
        self.live = Some(result.map_err(|e| AxisError::Broker(format!("subscribing: {e}")))??);
        Ok(())
    }

    /// A channel consuming `q`.
    async fn open_consumer(
        shared: Arc<Shared>,
        q: Arc<QueueRef>,
    ) -> Result<LiveConsumer, AxisError> {
        // A dead connection is noticed by its status; a channel-level
        // failure (consumer cancelled, queue deleted) must not tear down
        // the connection shared with the publisher and other consumers.
        let (conn, _) = shared.connection(0).await?;
        let channel = conn.create_channel().await?;
        channel
            .basic_qos(shared.opts.prefetch, BasicQosOptions::default())
            .await?;
        let tag = format!(
            "docaxis-{}-{}-{}",
            std::process::id(),
            q.queue,
            shared.consumer_seq.fetch_add(1, Ordering::Relaxed)
        );
        let consumer = match channel
            .basic_consume(
                short(&q.queue),
                short(&tag),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
        {
            Ok(c) => c,
            Err(e) => {
                shared.close_channel(&channel).await;
                return Err(AxisError::Broker(format!("consume {}: {e}", q.queue)));
            }
        };
        Ok(LiveConsumer {
            channel: Arc::new(ConsumerChannel::new(channel, &q.queue)),
            consumer,
            tag,
        })
    }

    fn decode(
        &self,
        properties: &BasicProperties,
        payload: Bytes,
    ) -> Result<(Envelope, String, Option<DeadLetter>, u32), AxisError> {
        let empty = FieldTable::default();
        let h = properties.headers().as_ref().unwrap_or(&empty);
        let need = |k: &str| {
            header_string(h, k)
                .ok_or_else(|| AxisError::InvalidEnvelope(format!("missing header {k}")))
        };
        let kind = Kind::parse(&need(headers::KIND)?)
            .ok_or_else(|| AxisError::InvalidEnvelope("unknown kind".into()))?;
        let recipients: Vec<String> = need(headers::RECIPIENTS)?
            .split(',')
            .map(str::to_string)
            .collect();
        // The digest header is not read: the envelope computes the digest
        // from the payload when someone asks for it (see `Envelope`).
        let env = Envelope::new(
            kind,
            need(headers::SENDER)?,
            recipients,
            need(headers::KEY_ID)?,
            payload,
        )?;
        let recipient =
            header_string(h, headers::RECIPIENT).unwrap_or_else(|| self.q.owner.clone());
        let dead_letter = if self.q.dead_key.is_none() {
            let reason = header_string(h, headers::REFUSAL_REASON)
                .or_else(|| header_string(h, "x-first-death-reason"))
                .unwrap_or_else(|| "unknown".into());
            Some(DeadLetter {
                reason,
                queue_of: header_string(h, headers::DEAD_LETTER_QUEUE_OF)
                    .unwrap_or_else(|| self.q.owner.clone()),
            })
        } else {
            None
        };
        // Quorum queues count earlier failed deliveries in x-delivery-count.
        let attempt = header_int(h, "x-delivery-count").map_or(1, |c| c.max(0) as u32 + 1);
        Ok((env, recipient, dead_letter, attempt))
    }
}

#[async_trait]
impl Source for RabbitSource {
    async fn next(&mut self) -> Option<Result<Delivery, AxisError>> {
        loop {
            if self.shared.closed.load(Ordering::SeqCst) {
                return None;
            }
            if self.live.is_none() {
                if let Err(e) = self.subscribe().await {
                    if matches!(e, AxisError::Closed) {
                        return None;
                    }
                    tracing::warn!(error = %e, queue = self.q.queue, "cannot consume yet; retrying");
                    tokio::time::sleep(self.backoff).await;
                    self.backoff = (self.backoff * 2).min(self.shared.opts.max_backoff);
                    continue;
                }
                self.backoff = Duration::from_millis(100);
            }
            let live = self.live.as_mut().expect("live consumer");
            if live.channel.broken.load(Ordering::SeqCst) {
                // An ack or nack could not be written (logged): the
                // channel is gone or going; consume on a new one.
                tracing::warn!(queue = self.q.queue, "settlement lost; resubscribing");
                if let Some(l) = self.live.take() {
                    self.shared.close_channel(&l.channel.channel).await;
                }
                continue;
            }
            let item = live.consumer.next().await;
            match item {
                Some(Ok(d)) => {
                    let channel = live.channel.clone();
                    // One buffer, shared by the envelope and the settle
                    // handle (which needs it to dead-letter with a reason).
                    let payload = Bytes::from(d.data);
                    match self.decode(&d.properties, payload.clone()) {
                        Ok((envelope, delivered_to, dead_letter, attempt)) => {
                            return Some(Ok(Delivery {
                                envelope,
                                delivered_to,
                                redelivered: d.redelivered,
                                attempt,
                                dead_letter,
                                settle: Some(Box::new(RabbitSettle {
                                    shared: self.shared.clone(),
                                    channel,
                                    tag: d.delivery_tag,
                                    q: self.q.clone(),
                                    properties: d.properties,
                                    payload,
                                })),
                            }))
                        }
                        Err(e) => {
                            // Cannot be handed out: dead-letter it with the
                            // reason so it is visible, and tell the caller.
                            let settle = Box::new(RabbitSettle {
                                shared: self.shared.clone(),
                                channel,
                                tag: d.delivery_tag,
                                q: self.q.clone(),
                                properties: d.properties,
                                payload,
                            });
                            let _ = settle
                                .settle(Outcome::Refuse(format!("malformed: {e}")))
                                .await;
                            return Some(Err(e));
                        }
                    }
                }
                // An error (connection or channel lost), or the end of the
                // stream (consumer cancelled by the broker): subscribe
                // again. Deliveries not yet acked come again, flagged
                // redelivered; acking them on the old channel reports
                // `DeliveryStale`.
                other => {
                    match other {
                        Some(Err(e)) => {
                            tracing::warn!(error = %e, queue = self.q.queue, "consumer interrupted; resubscribing")
                        }
                        _ => tracing::warn!(
                            queue = self.q.queue,
                            "consumer cancelled; resubscribing"
                        ),
                    }
                    if let Some(l) = self.live.take() {
                        l.channel.flush(self.shared.opts.close_timeout).await;
                        self.shared.close_channel(&l.channel.channel).await;
                    }
                    tokio::time::sleep(self.backoff).await;
                    self.backoff = (self.backoff * 2).min(self.shared.opts.max_backoff);
                }
            }
        }
    }

    async fn close(&mut self) -> Result<(), AxisError> {
        // A subscription still being made ends in a channel to close too.
        if let Some(running) = self.subscribing.take() {
            if let Ok(Ok(l)) = running.await {
                self.live = Some(l);
            }
        }
        if let Some(l) = self.live.take() {
            let t = self.shared.opts.close_timeout;
            l.channel.flush(t).await;
            let _ = tokio::time::timeout(
                t,
                l.channel
                    .channel
                    .basic_cancel(short(&l.tag), BasicCancelOptions::default()),
            )
            .await;
            self.shared.close_channel(&l.channel.channel).await;
        }
        Ok(())
    }
}

impl Drop for RabbitSource {
    fn drop(&mut self) {
        // Close the channel explicitly (bounded) rather than just dropping
        // it: unacked deliveries go back to the queue. The same for the
        // channel of a subscription still being made.
        let live = self.live.take();
        let subscribing = self.subscribing.take();
        if live.is_none() && subscribing.is_none() {
            return;
        }
        let t = self.shared.opts.close_timeout;
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let mut channels: Vec<LiveConsumer> = live.into_iter().collect();
                if let Some(running) = subscribing {
                    if let Ok(Ok(l)) = running.await {
                        channels.push(l);
                    }
                }
                for l in channels {
                    l.channel.flush(t).await;
                    if l.channel.channel.status().connected() {
                        let _ = tokio::time::timeout(
                            t,
                            l.channel.channel.close(200, short("consumer dropped")),
                        )
                        .await;
                    }
                }
            });
        }
    }
}

/// Poll `fut` once. lapin's channel methods queue their frames (in call
/// order, under lapin's frame lock) and register what they expect before
/// their first await point; what remains after that is waiting for lapin's
/// I/O thread to write the frames to the socket.
async fn poll_once<F: Future>(mut fut: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await
}

struct RabbitSettle {
    shared: Arc<Shared>,
    channel: Arc<ConsumerChannel>,
    tag: u64,
    q: Arc<QueueRef>,
    properties: BasicProperties,
    payload: Bytes,
}

impl RabbitSettle {
    /// Queue the ack or nack of this delivery (see [`ConsumerChannel`]).
    async fn send(&self, frame: Frame) -> Result<(), AxisError> {
        self.channel.settle(self.tag, frame).await.map_err(|e| {
            if self.channel.channel.status().connected() {
                AxisError::Broker(e.to_string())
            } else {
                AxisError::DeliveryStale
            }
        })
    }
}

#[async_trait]
impl Settle for RabbitSettle {
    async fn settle(self: Box<Self>, outcome: Outcome) -> Result<(), AxisError> {
        // One tag at a time (never `multiple`), queued on the delivery's
        // channel without waiting for the write: see `ConsumerChannel`.
        match outcome {
            Outcome::Ack => self.send(Frame::Ack).await,
            Outcome::Retry => self.send(Frame::Nack { requeue: true }).await,
            Outcome::Refuse(reason) => match &self.q.dead_key {
                None => {
                    // Refused from a dead-letter queue: discard.
                    tracing::warn!(reason, "message discarded from dead-letter queue");
                    self.send(Frame::Nack { requeue: false }).await
                }
                Some(key) => {
                    // The broker's own dead-lettering (reject, requeue=false)
                    // cannot carry a reason, so publish the copy ourselves,
                    // wait for its confirm, and only then ack the original:
                    // a crash in between duplicates, never loses.
                    let mut h = self.properties.headers().clone().unwrap_or_default();
                    h.insert(short(headers::REFUSAL_REASON), long(&reason));
                    h.insert(short(headers::DEAD_LETTER_QUEUE_OF), long(&self.q.owner));
                    // No user_id: the refusing agency is not the sender.
                    let mut props = BasicProperties::default()
                        .with_delivery_mode(2)
                        .with_headers(h);
                    if let Some(id) = self.properties.message_id() {
                        props = props.with_message_id(id.clone());
                    }
                    let message_id = self
                        .properties
                        .message_id()
                        .as_ref()
                        .map_or(String::new(), |s| s.to_string());
                    match self
                        .shared
                        .publish_raw(
                            &self.shared.names.dead(),
                            key,
                            props,
                            &self.payload,
                            &message_id,
                        )
                        .await?
                    {
                        CopyOutcome::Stored => {}
                        CopyOutcome::Returned => {
                            return Err(AxisError::Broker(format!(
                                "dead-letter queue for {} missing; message left in the inbox",
                                self.q.owner
                            )))
                        }
                    }
                    self.send(Frame::Ack).await
                }
            },
        }
    }

    fn abandon(self: Box<Self>) {
        // Queued at once, from any thread: no runtime needed.
        if let Err(e) = self.channel.queue(self.tag, Frame::Nack { requeue: true }) {
            tracing::debug!(error = %e, "unsettled delivery's channel already closed; the broker delivers it again");
        }
    }
}
