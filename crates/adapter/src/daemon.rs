//! The running adapter: the outbox scanners, the consumer of the agency's
//! queue, the HTTP endpoint, and a clean stop on SIGTERM.
//!
//! Stopping: SIGTERM (or SIGINT) stops taking new work — no new outbox
//! scan, no new delivery pulled — lets every document and delivery in
//! flight finish and be acknowledged, closes the axis connection and
//! returns. SIGKILL at any instant is safe too (see the journal and
//! the records in `sent/`); it only makes the axis deliver again what was not
//! acknowledged.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::adapter::{folders, Adapter, StartError, StatusRequest, SubmitError};
use crate::config::Config;
use crate::folder_watch::{self, FolderWatch};
use crate::fsio;

/// Runs the adapter until SIGTERM or SIGINT.
pub async fn run(config: Config) -> Result<(), StartError> {
    let adapter = Arc::new(Adapter::open(config).await?);
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("stopping: finishing what is in flight");
        let _ = stop_tx.send(true);
    });
    run_until(adapter, stop_rx).await
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // No signal handling: run until killed.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

/// Runs an opened adapter until `stop` turns true, then drains and closes.
pub async fn run_until(
    adapter: Arc<Adapter>,
    stop: watch::Receiver<bool>,
) -> Result<(), StartError> {
    {
        // Work that waits (disk full, axis away) gives up when asked to stop.
        let adapter = adapter.clone();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let _ = stop.wait_for(|s| *s).await;
            adapter.request_stop();
        });
    }
    adapter.resume_unconfirmed().await;
    let mut tasks = JoinSet::new();
    if let Some(addr) = adapter.config().http {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        tracing::info!(%addr, "HTTP endpoint listening");
        tasks.spawn(crate::http::serve(adapter.clone(), listener, stop.clone()));
    }
    tasks.spawn(outbox_loop(adapter.clone(), stop.clone()));
    tasks.spawn(status_outbox_loop(adapter.clone(), stop.clone()));
    tasks.spawn(receive_loop(adapter.clone(), stop.clone()));
    while tasks.join_next().await.is_some() {}
    adapter.flush_records().await;
    if let Err(e) = adapter.axis().close().await {
        tracing::warn!(error = %e, "closing the axis connection");
    }
    tracing::info!(agency = %adapter.organ_id(), "stopped");
    Ok(())
}

/// Sleeps `d` unless asked to stop; true if asked to stop.
async fn pause(stop: &mut watch::Receiver<bool>, d: Duration) -> bool {
    if *stop.borrow() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}

/// After a transport failure, wait longer before the next scan, up to 5 s.
fn backoff(current: Duration, base: Duration, failed: bool) -> Duration {
    if failed {
        (current * 2).clamp(base, Duration::from_secs(5))
    } else {
        base
    }
}

/// What a folder loop does with one ready file: `true` when it is dealt
/// with (sent, or refused into `rejected/`), `false` on a transient failure
/// (the file stays and is tried again after a backoff).
type Handler = fn(Arc<Adapter>, PathBuf) -> futures_util::future::BoxFuture<'static, bool>;

/// Feeds the ready files of a folder to `handle`, up to `limit` at once,
/// oldest first, and never the same file twice at once.
///
/// A file is started as soon as there is room: the loop does not wait for
/// a whole scan's files to finish before taking the next ones, so one slow
/// file holds up no other. New files are found by scanning the folder when
/// its watch reports a rename (at once) or when the interval elapses (the
/// fallback, and what finds files that were there at start-up); a scan is
/// made only once the files of the previous one are all started, so a
/// backlog of thousands costs one listing, not one per file. After a
/// transient failure nothing new is started until the backoff has passed.
/// On stop: nothing new starts, what is in flight finishes.
async fn folder_loop(
    adapter: Arc<Adapter>,
    mut stop: watch::Receiver<bool>,
    folder: &'static str,
    limit: usize,
    handle: Handler,
) {
    let base = Duration::from_millis(adapter.config().scan_interval_ms);
    let dir = adapter.config().folder(folder);
    let mut watcher = match FolderWatch::new(&dir) {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot watch the folder; scanning every {base:?} only");
            None
        }
    };
    let mut queue: VecDeque<PathBuf> = VecDeque::new();
    // The files in flight, by task: a task that panics still gives its
    // file back, to be tried again.
    let mut taken: HashMap<tokio::task::Id, PathBuf> = HashMap::new();
    let mut in_flight = JoinSet::new();
    let mut wait = base;
    let mut scan_at = Instant::now();
    let mut stopping = *stop.borrow();
    while !(stopping && in_flight.is_empty()) {
        let now = Instant::now();
        if !stopping && queue.is_empty() && now >= scan_at {
            match fsio::ready_files(&dir) {
                Ok(files) => {
                    let busy: HashSet<&PathBuf> = taken.values().collect();
                    queue.extend(files.into_iter().filter(|f| !busy.contains(f)));
                }
                Err(e) => {
                    tracing::error!(error = %e, dir = %dir.display(), "cannot read the folder");
                }
            }
            scan_at = now + wait;
        }
        while in_flight.len() < limit && !stopping {
            let Some(file) = queue.pop_front() else { break };
            let task = in_flight.spawn(handle(adapter.clone(), file.clone()));
            taken.insert(task.id(), file);
        }
        tokio::select! {
            _ = stop.changed(), if !stopping => stopping = true,
            Some(done) = in_flight.join_next_with_id(), if !in_flight.is_empty() => {
                let (id, ok) = match done {
                    Ok((id, ok)) => (id, ok),
                    Err(e) => {
                        tracing::error!(error = %e, "a file's task failed; it will be tried again");
                        (e.id(), false)
                    }
                };
                taken.remove(&id);
                wait = backoff(wait, base, !ok);
                if !ok {
                    // Try again later, from a fresh scan.
                    queue.clear();
                    scan_at = Instant::now() + wait;
                }
            }
            _ = folder_watch::changed(&mut watcher), if !stopping && queue.is_empty() => {
                // A new name: scan now, unless backing off after a failure.
                if wait == base {
                    scan_at = Instant::now();
                }
            }
            _ = tokio::time::sleep_until(scan_at.into()), if !stopping && queue.is_empty() => {}
        }
    }
}

async fn outbox_loop(adapter: Arc<Adapter>, stop: watch::Receiver<bool>) {
    let limit = adapter.config().concurrency;
    folder_loop(adapter, stop, folders::OUTBOX, limit, |adapter, file| {
        Box::pin(async move { send_file(&adapter, &file).await })
    })
    .await
}

/// Sends one outbox file; false on a transient failure (tried again).
async fn send_file(adapter: &Adapter, file: &Path) -> bool {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let Ok(bytes) = std::fs::read(file) else {
        return true; // taken away meanwhile
    };
    let result = adapter.submit(&bytes, &name).await.map(|_| ());
    // No fsync of the outbox when a file is sent: if a power cut brings it
    // back, its record in sent/ says it was confirmed and it is removed
    // again without being sent twice.
    settle(adapter, file, result, "sent")
}

/// Takes a handled file out of its folder: into the spares when it was
/// sent, into `rejected/` (with the reasons) when it was refused; false
/// when it failed for now and stays to be tried again.
fn settle(adapter: &Adapter, file: &Path, result: Result<(), SubmitError>, done: &str) -> bool {
    match result {
        Ok(()) => {
            if let Err(e) = adapter.discard(file) {
                tracing::error!(file = %file.display(), error = %e, "{done}, but cannot remove it from its folder");
            }
            true
        }
        Err(SubmitError::Invalid(problems)) => {
            if let Err(e) = adapter.reject(file, &problems) {
                tracing::error!(file = %file.display(), error = %e, "cannot move a refused file to rejected/");
            }
            true
        }
        Err(e) => {
            tracing::warn!(file = %file.display(), error = %e, "not sent now; will try again");
            false
        }
    }
}

/// Status requests one at a time, oldest first: a clerk's 03 then 06 for
/// one document leave in that order.
async fn status_outbox_loop(adapter: Arc<Adapter>, stop: watch::Receiver<bool>) {
    folder_loop(adapter, stop, folders::STATUS_OUTBOX, 1, |adapter, file| {
        Box::pin(async move { send_status_file(&adapter, &file).await })
    })
    .await
}

/// Sends one status request file; false on a transient failure.
async fn send_status_file(adapter: &Adapter, file: &Path) -> bool {
    let Ok(bytes) = std::fs::read(file) else {
        return true; // taken away meanwhile
    };
    let result = match serde_json::from_slice::<StatusRequest>(&bytes) {
        Ok(req) => adapter.send_status(&req).await,
        Err(e) => Err(SubmitError::Invalid(vec![format!(
            "not a status request ({e}); write JSON like {{\"document_id\": \"000.00.00.G22,2026/01/05,12/VPCP\", \"code\": \"03\", \"description\": \"\"}}"
        )])),
    };
    settle(adapter, file, result, "status sent")
}

async fn receive_loop(adapter: Arc<Adapter>, mut stop: watch::Receiver<bool>) {
    let agency = adapter.organ_id().to_string();
    let mut wait = Duration::from_millis(200);
    let mut consumer = loop {
        match adapter.axis().consume(&agency).await {
            Ok(c) => break c,
            Err(e) => {
                tracing::error!(error = %e, "cannot consume the agency's queue; retrying");
                if pause(&mut stop, wait).await {
                    return;
                }
                wait = (wait * 2).min(Duration::from_secs(5));
            }
        }
    };
    let limit = adapter.config().concurrency;
    let mut in_flight = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
            next = consumer.next(), if in_flight.len() < limit => match next {
                Some(Ok(delivery)) => {
                    let adapter = adapter.clone();
                    in_flight.spawn(async move {
                        if let Err(e) = adapter.handle(delivery).await {
                            // The axis redelivers what was not settled.
                            tracing::warn!(error = %e, "settling a delivery failed");
                        }
                    });
                }
                Some(Err(e)) => tracing::warn!(error = %e, "from the axis"),
                None => break,
            },
        }
    }
    while in_flight.join_next().await.is_some() {}
    if let Err(e) = consumer.close().await {
        tracing::warn!(error = %e, "closing the consumer");
    }
}
