//! A small tmpfs to run an agency's data directory on, and fill.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A mounted tmpfs; unmounted on drop.
pub struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `megabytes` on `path` (created if needed); `None`,
    /// after saying why, where mounting is not permitted (not root, or a
    /// container without the capability).
    pub fn mount(path: &Path, megabytes: u32) -> Option<Tmpfs> {
        std::fs::create_dir_all(path).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(path)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs {
                path: path.to_owned(),
            }),
            Ok(o) => {
                println!(
                    "SKIPPED: cannot mount a tmpfs ({}); the disk-full case needs root",
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                None
            }
            Err(e) => {
                println!("SKIPPED: cannot run mount ({e})");
                None
            }
        }
    }

    fn filler(&self) -> PathBuf {
        self.path.join(".filler")
    }

    /// Fills what space is left (appending to a hidden file until the
    /// file system says it is full); call again to take what was freed
    /// meanwhile. Returns the bytes added.
    pub fn fill(&self) -> u64 {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.filler())
            .expect("open the filler");
        let chunk = vec![0u8; 64 * 1024];
        let mut added = 0u64;
        // Down to single bytes, so that not even a small write fits.
        for size in [chunk.len(), 4096, 1] {
            while let Ok(n) = f.write(&chunk[..size]) {
                if n == 0 {
                    break;
                }
                added += n as u64;
            }
        }
        added
    }

    /// Frees the space [`Tmpfs::fill`] took.
    pub fn free(&self) {
        let _ = std::fs::remove_file(self.filler());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.path)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            // Still busy (a process not yet reaped): detach it now, the
            // kernel frees it when the last user goes.
            let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        }
    }
}
