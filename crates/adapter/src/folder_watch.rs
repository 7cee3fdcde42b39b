//! Waking up when a file is renamed into a folder.
//!
//! The folder contract says a document system writes a file elsewhere and
//! renames it into `outbox/`. Scanning the folder every `scan_interval_ms`
//! finds it, but the document then waits for the next scan: up to the
//! whole interval, which was most of a quiet axis's latency. Linux tells a
//! process the moment a name appears in a folder it watches (inotify,
//! `IN_MOVED_TO` for a rename, `IN_CLOSE_WRITE` for a file written in
//! place), so the loops that feed on folders wait for that *or* the
//! interval, whichever comes first. The scan stays the source of truth:
//! an event only says "look now" (events can be lost when the kernel's
//! queue overflows, and files present at start-up have none), so nothing
//! depends on receiving every event.

use std::io;
use std::mem::MaybeUninit;
use std::path::Path;
use std::sync::{Arc, Weak};

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::fd::OwnedFd;
use rustix::fs::inotify;
use rustix::io::Errno;
use tokio::sync::Notify;

/// How often the watching thread checks that its watch still exists.
const CHECK_EVERY: Timespec = Timespec {
    tv_sec: 1,
    tv_nsec: 0,
};

/// A watch on one folder for names renamed or written into it.
///
/// A small thread blocks on the inotify descriptor and wakes the async side
/// through a [`Notify`]; it ends within a second of the watch being
/// dropped. (A thread rather than registering the descriptor with Tokio's
/// reactor: that registration is `unsafe` since Tokio 1.54, and this
/// project has no `unsafe`.)
#[derive(Debug)]
pub struct FolderWatch {
    woken: Arc<Notify>,
}

impl FolderWatch {
    /// Watches `dir`. Fails where inotify is unavailable (or the per-user
    /// limit of watches is reached): callers then rely on the interval.
    pub fn new(dir: &Path) -> io::Result<FolderWatch> {
        let fd = inotify::init(inotify::CreateFlags::NONBLOCK | inotify::CreateFlags::CLOEXEC)?;
        inotify::add_watch(
            &fd,
            dir,
            inotify::WatchFlags::MOVED_TO | inotify::WatchFlags::CLOSE_WRITE,
        )?;
        let woken = Arc::new(Notify::new());
        let weak = Arc::downgrade(&woken);
        std::thread::Builder::new()
            .name("folder-watch".into())
            .spawn(move || watch_thread(fd, weak))?;
        Ok(FolderWatch { woken })
    }

    /// Waits until at least one name appeared in the folder since the last
    /// call returned: a burst of renames is one wake-up.
    pub async fn changed(&mut self) {
        self.woken.notified().await
    }
}

/// Waits for events and wakes the watch, until the watch is dropped.
fn watch_thread(fd: OwnedFd, woken: Weak<Notify>) {
    // Room for many events at once (each is 16 bytes and a name).
    let mut buf = vec![MaybeUninit::uninit(); 16 * 1024];
    loop {
        let mut fds = [PollFd::new(&fd, PollFlags::IN)];
        let any = match poll(&mut fds, Some(&CHECK_EVERY)) {
            Ok(0) | Err(Errno::INTR) => false,
            Ok(_) => {
                let mut reader = inotify::Reader::new(&fd, &mut buf);
                let mut any = false;
                loop {
                    match reader.next() {
                        Ok(_) => any = true,
                        Err(Errno::AGAIN | Errno::INTR) => break,
                        Err(e) => {
                            tracing::warn!(error = %e, "folder watch failed; scanning at the interval only");
                            return;
                        }
                    }
                }
                any
            }
            Err(e) => {
                tracing::warn!(error = %e, "folder watch failed; scanning at the interval only");
                return;
            }
        };
        let Some(woken) = woken.upgrade() else {
            return; // the watch is gone
        };
        if any {
            // Stores a permit when no one waits: the next wait returns
            // at once.
            woken.notify_one();
        }
    }
}

/// Waits for the next change of an optional watch; never returns without
/// one (so a `select!` falls back to its other branches).
pub async fn changed(watch: &mut Option<FolderWatch>) {
    match watch {
        Some(w) => w.changed().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_rename_into_the_folder_wakes_the_watch() {
        let d = tempfile::tempdir().unwrap();
        let outbox = d.path().join("outbox");
        std::fs::create_dir(&outbox).unwrap();
        let mut w = FolderWatch::new(&outbox).unwrap();
        // Nothing yet: the wait does not end.
        let quiet = tokio::time::timeout(Duration::from_millis(50), w.changed()).await;
        assert!(quiet.is_err(), "woke up with nothing in the folder");
        // Written elsewhere, renamed in: one wake-up for the burst.
        for i in 0..3 {
            let tmp = d.path().join(format!("doc{i}.tmp"));
            std::fs::write(&tmp, b"<edXML/>").unwrap();
            std::fs::rename(&tmp, outbox.join(format!("doc{i}.xml"))).unwrap();
        }
        tokio::time::timeout(Duration::from_secs(5), w.changed())
            .await
            .expect("the rename woke the watch");
        // The burst may have been seen in one or two reads: take a wake-up
        // left over, then nothing more comes without a new name.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let _ = tokio::time::timeout(Duration::from_millis(10), w.changed()).await;
        let again = tokio::time::timeout(Duration::from_millis(200), w.changed()).await;
        assert!(again.is_err(), "woke up without a new name");
        // A file written elsewhere and removed is no name in the folder.
        std::fs::write(d.path().join("other.tmp"), b"x").unwrap();
        let other = tokio::time::timeout(Duration::from_millis(200), w.changed()).await;
        assert!(other.is_err(), "woke up for another folder");
    }
}
