//! What freeing inodes costs the next file created, and what
//! [`Spares`](docaxis_adapter::fsio::Spares) saves.
//!
//! ```sh
//! cargo run --release -p docaxis-adapter --example inode_churn [DIR] [FILES] [ROUNDS]
//! ```
//!
//! In DIR (default: the system's temporary folder, which must be on the
//! file system to test), each round writes FILES files of 5 KiB with an
//! fdatasync each, as the adapter stages inbox files, then gets rid of
//! them; it prints the CPU time (user + kernel) per file written. Two
//! passes: one deleting the files (as a document system does), one handing
//! them to `Spares` (as the adapter does). On ext4 without a journal the
//! first pass grows round after round (the inode allocator scans every
//! inode freed in the last 5–300 s); on a journaled file system both stay
//! flat. Run it on a quiet file system: other processes' deletions count
//! too.

use std::io::Write;
use std::path::{Path, PathBuf};

use docaxis_adapter::fsio::Spares;
use docaxis_axis::procstat::cpu_of_self;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let base: PathBuf = args.next().map_or_else(std::env::temp_dir, PathBuf::from);
    let files: usize = args
        .next()
        .map_or(2000, |s| s.parse().expect("FILES: a number"));
    let rounds: usize = args
        .next()
        .map_or(4, |s| s.parse().expect("ROUNDS: a number"));
    let work = tempfile::tempdir_in(&base)?;
    let body = vec![b'x'; 5 * 1024];
    println!(
        "{files} files of 5 KiB per round, fdatasync each, in {}",
        base.display()
    );

    let dir = work.path().join("deleted");
    std::fs::create_dir(&dir)?;
    for round in 1..=rounds {
        let (us, paths) = write_round(&dir, files, |path| {
            let mut f = std::fs::File::create(path)?;
            f.write_all(&body)?;
            f.sync_data()
        })?;
        for p in &paths {
            std::fs::remove_file(p)?;
        }
        println!("deleting:    round {round}: {us:.0} µs CPU per file written");
    }

    // As the adapter writes: a temporary file over a spare, fsynced,
    // renamed into place; a file done with goes back to the spares.
    let dir = work.path().join("spares");
    std::fs::create_dir(&dir)?;
    let spares = Spares::open(&work.path().join(".spare"))?;
    for round in 1..=rounds {
        let (us, paths) = write_round(&dir, files, |path| {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("f");
            spares
                .write_atomic_undurable_name(&dir, name, &body)
                .map(|_| ())
        })?;
        for p in &paths {
            spares.discard(p)?;
        }
        println!("with spares: round {round}: {us:.0} µs CPU per file written");
    }
    Ok(())
}

/// Writes `files` files in `dir` with `write`, and returns the CPU time per
/// file in µs and their paths.
fn write_round(
    dir: &Path,
    files: usize,
    mut write: impl FnMut(&Path) -> std::io::Result<()>,
) -> std::io::Result<(f64, Vec<PathBuf>)> {
    let start = cpu_of_self();
    let mut paths = Vec::with_capacity(files);
    for i in 0..files {
        let path = dir.join(format!("f{i}"));
        write(&path)?;
        paths.push(path);
    }
    let us = (cpu_of_self() - start).as_secs_f64() * 1e6 / files as f64;
    Ok((us, paths))
}
