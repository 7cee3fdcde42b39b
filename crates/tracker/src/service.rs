//! The ingest loop over the axis's tap, and `docaxis tracker run`.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use docaxis_axis::{Axis, Delivery};
use tokio::sync::mpsc;

use crate::decode::decode;
use crate::{store, Config, Tracker};

/// How the ingest loop batches.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Most deliveries per transaction.
    pub batch_size: usize,
    /// Longest wait to fill a batch once its first delivery is in.
    pub batch_wait: Duration,
    /// Test support: after the first commit, stop *without* acknowledging
    /// its deliveries, as a crash between commit and ack would. They are
    /// given back to the tap and redelivered to the next tracker.
    #[doc(hidden)]
    pub crash_after_first_commit: bool,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            batch_size: 1000,
            batch_wait: Duration::from_millis(50),
            crash_after_first_commit: false,
        }
    }
}

/// Consume the tap of `axis` into `tracker` until `shutdown` completes.
///
/// Deliveries are taken in batches; each batch is decoded and stored in one
/// transaction, and only once it committed are its deliveries acknowledged
/// (a crash before that means a redelivery, which the store recognises).
/// A delivery that is not edXML is refused with the reason (it goes to the
/// tap's dead-letter queue); if the database fails, the whole batch is
/// given back for retry.
pub async fn ingest_tap(
    axis: &dyn Axis,
    tracker: Tracker,
    opts: IngestOptions,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    axis.ensure(&[])
        .await
        .context("checking (or declaring) the tap")?;
    let mut consumer = axis.tap().await.context("consuming the tap")?;
    // A separate task pulls deliveries into a channel: cancelling a pending
    // `Consumer::next` (as a timeout would) could leave a claimed message
    // behind, while a channel receive is cancel-safe.
    let (tx, mut rx) = mpsc::channel::<Delivery>(opts.batch_size.max(1));
    let puller = tokio::spawn(async move {
        while let Some(d) = consumer.next().await {
            match d {
                Ok(d) => {
                    if tx.send(d).await.is_err() {
                        break;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "tap"),
            }
        }
    });
    tokio::pin!(shutdown);
    let result = loop {
        let first = tokio::select! {
            _ = &mut shutdown => break Ok(()),
            d = rx.recv() => match d {
                Some(d) => d,
                None => break Err(anyhow::anyhow!("the tap closed")),
            },
        };
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + opts.batch_wait;
        while batch.len() < opts.batch_size {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(d)) => batch.push(d),
                _ => break,
            }
        }
        let inputs: Vec<_> = batch
            .iter()
            .map(|d| (d.envelope.clone(), d.delivered_to.clone()))
            .collect();
        let t = tracker.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            let now = store::now();
            let mut records = Vec::with_capacity(inputs.len());
            let mut verdicts = Vec::with_capacity(inputs.len());
            for (env, to) in &inputs {
                match decode(env, to, now) {
                    Ok(r) => {
                        records.push(r);
                        verdicts.push(None);
                    }
                    Err(e) => verdicts.push(Some(e.to_string())),
                }
            }
            t.ingest(&records).map(|_| verdicts)
        })
        .await
        .context("ingest task")?;
        match outcome {
            Ok(verdicts) => {
                if opts.crash_after_first_commit {
                    drop(batch); // given back unacknowledged
                    break Ok(());
                }
                note_undecodable(
                    &tracker,
                    verdicts.iter().filter(|v| v.is_some()).count() as u64,
                );
                let settle = batch.into_iter().zip(verdicts).map(|(d, v)| async move {
                    match v {
                        None => d.ack().await,
                        Some(reason) => {
                            tracing::warn!(message_id = d.envelope.message_id(), %reason, "refused from the tap");
                            d.refuse(reason).await
                        }
                    }
                });
                let refused = futures_util::future::join_all(settle).await;
                for r in refused {
                    if let Err(e) = r {
                        tracing::warn!(error = %e, "settling a tap delivery");
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "storing a batch failed; giving it back");
                for d in batch {
                    let _ = d.retry().await;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    drop(rx);
    puller.abort();
    let _ = puller.await;
    result
}

/// Count refused deliveries (called by the loop).
fn note_undecodable(tracker: &Tracker, n: u64) {
    tracker
        .counters()
        .undecodable
        .fetch_add(n, Ordering::Relaxed);
}

/// `docaxis tracker run`: open the database, serve HTTP, consume the tap,
/// until Ctrl-C or SIGTERM.
pub async fn run(config: Config) -> anyhow::Result<()> {
    run_until(config, shutdown_signal()).await
}

/// [`run`] until `shutdown` completes.
pub async fn run_until(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let db = config.db.clone();
    let durable = config.durable;
    let th = config.thresholds;
    let tracker = tokio::task::spawn_blocking(move || Tracker::open(&db, durable, th))
        .await?
        .with_context(|| format!("opening {}", config.db.display()))?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    tracing::info!(listen = %config.listen, db = %config.db.display(), "tracker running");
    eprintln!(
        "tracker: dashboard and API on http://{} (database {})",
        listener.local_addr()?,
        config.db.display()
    );
    let axis = docaxis_axis::connect(config.axis.as_deref())
        .await
        .context("connecting to the axis")?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stop_tx = std::sync::Arc::new(stop_tx);
    let stop_on_signal = stop_tx.clone();
    let mut http_stop = stop_rx.clone();
    let server = tokio::spawn(crate::http::serve(listener, tracker.clone(), async move {
        let _ = http_stop.wait_for(|s| *s).await;
    }));
    let mut ingest_stop = stop_rx;
    let opts = IngestOptions {
        batch_size: config.batch_size,
        batch_wait: Duration::from_millis(config.batch_wait_ms),
        crash_after_first_commit: false,
    };
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_on_signal.send(true);
    });
    let ingest = ingest_tap(axis.as_ref(), tracker, opts, async move {
        let _ = ingest_stop.wait_for(|s| *s).await;
    })
    .await;
    // Stop the server too when ingest ends on its own (an error).
    let _ = stop_tx.send(true);
    let _ = axis.close().await;
    server.await??;
    ingest
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// [`run`] on a runtime of its own, for callers without one (the CLI).
pub fn run_blocking(config: Config) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?
        .block_on(run(config))
}
