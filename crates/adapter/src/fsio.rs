//! Files that appear whole or not at all.
//!
//! The folder contract with document systems rests on one primitive: write a
//! temporary file in the target directory, fsync it, rename it into place,
//! fsync the directory. A reader never sees a half-written file, and once
//! the function returns the file survives a power cut.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

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
    write_renamed(dir, name, bytes, true)
}

/// Writes `bytes` as `dir/name` so that readers see it whole or not at
/// all, without any fsync: for files whose content a log already makes
/// durable (see [`crate::sent`]), rewritten from it after a crash.
pub fn write_atomic_unsynced(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<PathBuf> {
    write_renamed(dir, name, bytes, false)
}

fn write_renamed(dir: &Path, name: &str, bytes: &[u8], sync: bool) -> io::Result<PathBuf> {
    let target = dir.join(name);
    // A dot-file: never picked up by anyone scanning the folder.
    let tmp = dir.join(format!(".{name}.tmp"));
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        if sync {
            f.sync_all()?;
        }
    }
    fs::rename(&tmp, &target)?;
    Ok(target)
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
        if name.to_string_lossy().starts_with('.') || !entry.file_type()?.is_file() {
            continue;
        }
        let modified = entry.metadata()?.modified().ok();
        files.push((modified, entry.path()));
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
