//! Files that appear whole or not at all.
//!
//! The folder contract with document systems rests on one primitive: write a
//! temporary file in the target directory, fsync it, rename it into place,
//! fsync the directory. A reader never sees a half-written file, and once
//! the function returns the file survives a power cut.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// Writes `bytes` as `dir/name` atomically and durably.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<PathBuf> {
    let target = write_atomic_undurable_name(dir, name, bytes)?;
    fsync_dir(dir)?;
    Ok(target)
}

/// [`write_atomic`] without the directory's fsync: the content is durable,
/// the name becomes durable with the caller's next [`fsync_dir`] of `dir`
/// (one for several files).
pub fn write_atomic_undurable_name(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<PathBuf> {
    write_renamed(dir, name, bytes, true, None)
}

/// Writes `bytes` as `dir/name` so that readers see it whole or not at
/// all, without any fsync: for files whose content a log already makes
/// durable (see [`crate::sent`]), rewritten from it after a crash.
pub fn write_atomic_unsynced(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<PathBuf> {
    write_renamed(dir, name, bytes, false, None)
}

/// The one implementation of the atomic writes: with `spares`, the
/// temporary file is a spare inode when one is kept, and a file it replaces
/// becomes a spare instead of being freed (see [`Spares`]).
fn write_renamed(
    dir: &Path,
    name: &str,
    bytes: &[u8],
    sync: bool,
    spares: Option<&Spares>,
) -> io::Result<PathBuf> {
    let target = dir.join(name);
    // A dot-file: never picked up by anyone scanning the folder.
    let tmp = dir.join(format!(".{name}.tmp"));
    {
        let mut f = match spares {
            Some(s) => s.open_truncated(&tmp)?,
            None => create_truncated(&tmp)?,
        };
        f.write_all(bytes)?;
        if sync {
            f.sync_all()?;
        }
    }
    match spares {
        Some(s) => s.replace(&tmp, &target)?,
        None => fs::rename(&tmp, &target)?,
    }
    Ok(target)
}

/// Opens `path` for writing, empty, creating it if needed.
fn create_truncated(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
}

/// Most spare files kept; beyond this a discarded file is deleted.
const SPARES_MAX: usize = 4096;

/// Files the adapter is done with, kept to be written again instead of
/// deleted: an inode that is never freed is never scanned.
///
/// Why: on ext4 without a journal (this project's benchmark machines, and
/// some cloud images), the inode allocator skips every inode freed in the
/// last 5 s — 300 s while its inode-table block is not yet written back —
/// reading each one's deletion time (`recently_deleted()` in
/// `fs/ext4/ialloc.c`). When files are created and deleted by the hundred
/// each second, every new file then costs a scan of thousands of freed
/// inodes: `cargo run --release -p docaxis-adapter --example inode_churn`
/// measured 105, 300, 495, 560 µs of CPU per fsynced 5 KiB file over four
/// rounds of 2,000 files deleted after each, against 135 µs with spares;
/// under load that was about half of each adapter's CPU. So a file the adapter no longer needs (an outbox file
/// once sent, a record replaced by its new version) is renamed into the
/// hidden folder of spares, and the next temporary file is a spare renamed
/// into place and truncated. On a journaled file system this changes
/// nothing but one rename.
///
/// Spares hold no meaning: after a crash the folder's files are simply
/// reused, and one may delete the folder while the adapter is stopped.
#[derive(Debug)]
pub struct Spares {
    dir: PathBuf,
    state: Mutex<SpareState>,
}

#[derive(Debug, Default)]
struct SpareState {
    /// Names (numbers) of the spare files in `dir`.
    files: Vec<u64>,
    /// The next free name.
    next: u64,
}

impl Spares {
    /// Opens (creating it if needed) the folder of spares `dir`, which must
    /// be on the file system of the folders it serves (elsewhere, files
    /// are simply deleted and created as usual).
    pub fn open(dir: &Path) -> io::Result<Spares> {
        fs::create_dir_all(dir)?;
        let mut state = SpareState::default();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let number = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u64>().ok());
            match number {
                Some(n) if state.files.len() < SPARES_MAX && entry.file_type()?.is_file() => {
                    state.files.push(n);
                    state.next = state.next.max(n + 1);
                }
                _ => fs::remove_file(entry.path())?,
            }
        }
        Ok(Spares {
            dir: dir.to_owned(),
            state: Mutex::new(state),
        })
    }

    fn lock(&self) -> MutexGuard<'_, SpareState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many spare files are kept.
    pub fn len(&self) -> usize {
        self.lock().files.len()
    }

    /// Whether no spare file is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Done with `path`: its name goes away now, its inode is kept for a
    /// later write (or freed, when enough are kept or it lives on another
    /// file system).
    pub fn discard(&self, path: &Path) -> io::Result<()> {
        let number = {
            let mut s = self.lock();
            if s.files.len() >= SPARES_MAX {
                None
            } else {
                s.next += 1;
                Some(s.next - 1)
            }
        };
        if let Some(n) = number {
            match fs::rename(path, self.dir.join(n.to_string())) {
                Ok(()) => {
                    self.lock().files.push(n);
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::CrossesDevices => {}
                Err(e) => return Err(e),
            }
        }
        fs::remove_file(path)
    }

    /// Opens `path` for writing from its start, empty: a spare renamed
    /// there when one is kept, else a new file.
    pub(crate) fn open_truncated(&self, path: &Path) -> io::Result<File> {
        let spare = self.lock().files.pop();
        if let Some(n) = spare {
            match fs::rename(self.dir.join(n.to_string()), path) {
                Ok(()) => return OpenOptions::new().write(true).truncate(true).open(path),
                // Kept for the next try (`path`'s folder may not exist yet).
                Err(_) => self.lock().files.push(n),
            }
        }
        create_truncated(path)
    }

    /// Renames `tmp` to `target`; a file `target` had becomes a spare.
    /// Readers see the old file or the new one, never neither: the two are
    /// exchanged in one step (`renameat2(RENAME_EXCHANGE)`), and where the
    /// file system cannot exchange, `target` is replaced as by `rename`.
    fn replace(&self, tmp: &Path, target: &Path) -> io::Result<()> {
        use rustix::fs::{renameat_with, RenameFlags, CWD};
        match renameat_with(CWD, tmp, CWD, target, RenameFlags::EXCHANGE) {
            // `tmp` now holds the old file. The new one is in place
            // whatever happens to it: at worst a dot-file stays behind.
            Ok(()) => {
                if self.discard(tmp).is_err() {
                    let _ = fs::remove_file(tmp);
                }
                Ok(())
            }
            // No `target` yet, or no exchange here: a plain rename.
            Err(_) => fs::rename(tmp, target),
        }
    }

    /// [`write_atomic`] with spare inodes.
    pub fn write_atomic(&self, dir: &Path, name: &str, bytes: &[u8]) -> io::Result<PathBuf> {
        let target = self.write_atomic_undurable_name(dir, name, bytes)?;
        fsync_dir(dir)?;
        Ok(target)
    }

    /// [`write_atomic_undurable_name`] with spare inodes.
    pub fn write_atomic_undurable_name(
        &self,
        dir: &Path,
        name: &str,
        bytes: &[u8],
    ) -> io::Result<PathBuf> {
        write_renamed(dir, name, bytes, true, Some(self))
    }

    /// [`write_atomic_unsynced`] with spare inodes.
    pub fn write_atomic_unsynced(
        &self,
        dir: &Path,
        name: &str,
        bytes: &[u8],
    ) -> io::Result<PathBuf> {
        write_renamed(dir, name, bytes, false, Some(self))
    }
}

/// Makes a directory's entries (creations, renames) durable.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Moves `from` into `dir` under `name`, durably (same file system).
pub fn move_into(from: &Path, dir: &Path, name: &str) -> io::Result<PathBuf> {
    let target = dir.join(name);
    fs::rename(from, &target)?;
    fsync_dir(dir)?;
    if let Some(parent) = from.parent() {
        if parent != dir {
            fsync_dir(parent)?;
        }
    }
    Ok(target)
}

/// Regular files of `dir` ready to be taken: not hidden (temporary files
/// are dot-files by convention), oldest first, then by name.
pub fn ready_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        // A file taken away between the listing and this look (sent files
        // leave while the folder is scanned) is simply not ready.
        let metadata = match entry.metadata() {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        if !metadata.is_file() {
            continue;
        }
        files.push((metadata.modified().ok(), entry.path()));
    }
    files.sort();
    Ok(files.into_iter().map(|(_, p)| p).collect())
}

/// A file-name-safe form of a DocumentId plus a digest prefix, unique per
/// document version: `000.00.00.G22_2022-07-01_123-VPCP-KSTT.<digest12>`.
pub fn document_file_stem(document_id: &str, digest: &str) -> String {
    let mut s: String = document_id
        .chars()
        .map(|c| match c {
            ',' => '_',
            '/' => '-',
            c if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') => c,
            _ => '-',
        })
        .take(120)
        .collect();
    s.push('.');
    s.push_str(&digest[..digest.len().min(12)]);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_leaves_no_temporary_file() {
        let d = tempfile::tempdir().unwrap();
        write_atomic(d.path(), "a.xml", b"one").unwrap();
        write_atomic(d.path(), "a.xml", b"two").unwrap();
        assert_eq!(fs::read(d.path().join("a.xml")).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1);
    }

    fn inode(p: &Path) -> u64 {
        use std::os::unix::fs::MetadataExt;
        fs::metadata(p).unwrap().ino()
    }

    #[test]
    fn discarded_files_are_written_again_not_freed() {
        let d = tempfile::tempdir().unwrap();
        let spares = Spares::open(&d.path().join(".spare")).unwrap();
        let done = d.path().join("sent-from-outbox.xml");
        fs::write(&done, b"old content, longer than the new").unwrap();
        let ino = inode(&done);
        spares.discard(&done).unwrap();
        assert!(!done.exists());
        assert_eq!(spares.len(), 1);
        // The next write takes that inode, truncated.
        let written = spares.write_atomic(d.path(), "a.json", b"new").unwrap();
        assert_eq!(inode(&written), ino);
        assert_eq!(fs::read(&written).unwrap(), b"new");
        assert!(spares.is_empty());
        // Replacing a file keeps the replaced inode as a spare, and the
        // folder holds only the new file.
        let again = spares.write_atomic(d.path(), "a.json", b"newer").unwrap();
        assert_eq!(fs::read(&again).unwrap(), b"newer");
        assert_ne!(inode(&again), ino);
        assert_eq!(spares.len(), 1);
        let third = spares.write_atomic(d.path(), "a.json", b"third").unwrap();
        assert_eq!(inode(&third), ino, "the replaced inode is reused");
        let mut names: Vec<_> = fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, vec![".spare", "a.json"]);
    }

    #[test]
    fn spares_survive_a_restart() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join(".spare");
        {
            let spares = Spares::open(&dir).unwrap();
            for i in 0..3 {
                let p = d.path().join(format!("f{i}"));
                fs::write(&p, b"x").unwrap();
                spares.discard(&p).unwrap();
            }
        }
        // A stray file that is not a spare's name is removed at open.
        fs::write(dir.join("stray.tmp"), b"x").unwrap();
        let spares = Spares::open(&dir).unwrap();
        assert_eq!(spares.len(), 3);
        assert!(!dir.join("stray.tmp").exists());
        // New names never collide with the spares found.
        let p = d.path().join("g");
        fs::write(&p, b"x").unwrap();
        spares.discard(&p).unwrap();
        assert_eq!(spares.len(), 4);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 4);
    }

    #[test]
    fn hidden_and_temporary_files_are_not_ready() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join(".half.tmp"), b"x").unwrap();
        fs::write(d.path().join("b.xml"), b"x").unwrap();
        fs::create_dir(d.path().join("sub")).unwrap();
        let ready = ready_files(d.path()).unwrap();
        assert_eq!(ready, vec![d.path().join("b.xml")]);
    }

    #[test]
    fn file_stems_are_safe() {
        let s = document_file_stem("000.00.00.G22,2022/07/01,123/VPCP-KSTT", "abcdef0123456789");
        assert_eq!(s, "000.00.00.G22_2022-07-01_123-VPCP-KSTT.abcdef012345");
        let s = document_file_stem("../../x,y z", "00");
        assert!(!s.contains('/') && !s.contains(' '), "{s}");
    }
}
