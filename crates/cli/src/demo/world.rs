//! The demo's world, set up the way an axis operator and ten agencies would
//! set up theirs: an operator root key, a signed agency directory, one key
//! pair and one `agency.toml` per agency, a `tracker.toml`. Everything is
//! written to files, so that after `--keep` every other `docaxis` command
//! works on them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use docaxis_directory::{keys, Agency, AgencyKey, Directory, KeyId, SignedDirectory};
use docaxis_edxml::OrganId;
use time::OffsetDateTime;

use super::broker::DemoBroker;

/// The agencies of the demo: real ids and names of the Office of the
/// Government, ministries, a general department and provinces.
pub const AGENCIES: &[(&str, &str)] = &[
    ("000.00.00.G22", "Văn phòng Chính phủ"),
    ("000.00.00.G12", "Bộ Tài chính"),
    ("000.00.00.G09", "Bộ Nội vụ"),
    ("000.00.00.G13", "Bộ Thông tin và Truyền thông"),
    ("000.00.00.G02", "Bộ Công an"),
    ("000.00.18.G12", "Tổng cục Thuế"),
    ("000.00.00.H41", "UBND tỉnh Nghệ An"),
    ("000.00.00.H26", "UBND thành phố Hà Nội"),
    ("000.00.00.H29", "UBND Thành phố Hồ Chí Minh"),
    ("000.00.00.H15", "UBND thành phố Đà Nẵng"),
];

/// One agency of the demo, as its integrator would have installed it.
#[derive(Debug, Clone)]
pub struct Installed {
    /// OrganId.
    pub organ_id: OrganId,
    /// Name.
    pub name: String,
    /// Its folder: `agency.toml`, the key, and the data folders.
    pub home: PathBuf,
    /// `home/agency.toml`.
    pub config: PathBuf,
    /// Its key's id in the directory.
    pub key_id: String,
}

impl Installed {
    /// The data folder `name` (outbox, inbox, sent, ...).
    pub fn folder(&self, name: &str) -> PathBuf {
        self.home.join("data").join(name)
    }
}

/// Where each agency's adapter connects.
pub trait AxisFor {
    /// The axis URL for `agency` (its own broker user on RabbitMQ).
    fn url_for(&self, agency: &str) -> String;
}

/// The demo's world on disk.
#[derive(Debug)]
pub struct World {
    /// The agencies, in the order given to [`create`].
    pub agencies: Vec<Installed>,
    /// The signed directory file.
    pub directory: PathBuf,
    /// The operator's root public key.
    pub root_pub: PathBuf,
    /// The tracker's database.
    pub tracker_db: PathBuf,
    /// The tracker's configuration.
    pub tracker_config: PathBuf,
}

/// The key id of agency number `i` (ids are per agency and per year, as an
/// operator would issue them: `G22-2026-0`).
fn key_id(organ: &str, i: usize, now: OffsetDateTime) -> String {
    let short = organ.rsplit('.').next().unwrap_or(organ);
    format!("{short}-{}-{i}", now.year())
}
/// The run's working directory: `dir`, which must not exist yet, or a new
/// temporary directory named `prefix…` (returned, so that it is removed
/// when dropped unless kept).
pub fn work_dir(
    dir: Option<&Path>,
    prefix: &str,
) -> anyhow::Result<(PathBuf, Option<tempfile::TempDir>)> {
    match dir {
        Some(d) => {
            std::fs::create_dir_all(d.parent().unwrap_or(Path::new(".")))?;
            std::fs::create_dir(d)
                .with_context(|| format!("--dir {}: must be a new directory", d.display()))?;
            Ok((d.canonicalize()?, None))
        }
        None => {
            let t = tempfile::Builder::new().prefix(prefix).tempdir()?;
            Ok((t.path().to_owned(), Some(t)))
        }
    }
}

/// The end of a run: unless `keep`, the broker's vhost and users are
/// removed (a failure is a warning: the run's result stands); with `keep`,
/// the temporary working directory stays.
pub fn clean_up(broker: Option<&DemoBroker>, temp: Option<tempfile::TempDir>, keep: bool) {
    if let (Some(b), false) = (broker, keep) {
        if let Err(e) = b.remove() {
            eprintln!("warning: could not remove the vhost {}: {e:#}", b.vhost);
        }
    }
    if let (Some(t), true) = (temp, keep) {
        let _ = t.keep();
    }
}

/// Creates the operator's and the agencies' files under `root`, for
/// `agencies` (OrganId, name): the demo's [`AGENCIES`], or the bench's.
pub fn create(
    root: &Path,
    agencies: &[(&str, &str)],
    axis: &dyn AxisFor,
    tracker_axis: &str,
    tracker_listen: SocketAddr,
) -> anyhow::Result<World> {
    let now = OffsetDateTime::now_utc();
    let operator = root.join("operator");
    std::fs::create_dir_all(&operator)?;
    let root_key = keys::generate();
    keys::write_private_key(&operator.join("root.key"), &root_key)?;
    let root_pub = operator.join("root.pub");
    keys::write_public_key(&root_pub, &root_key.verifying_key())?;

    let mut directory = Directory::new(now);
    let mut installed = Vec::new();
    for (i, (organ, name)) in agencies.iter().enumerate() {
        let organ_id = OrganId::parse(organ).context("a demo agency id")?;
        let home = root.join("agencies").join(organ);
        std::fs::create_dir_all(&home)?;
        let key = keys::generate();
        let key_file = home.join("agency.key");
        keys::write_private_key(&key_file, &key)?;
        let kid = key_id(organ, i, now);
        directory.add_agency(Agency::new(organ_id.clone(), *name, None))?;
        directory.add_key(
            &organ_id,
            AgencyKey::new(
                KeyId::parse(&kid)?,
                key.verifying_key(),
                now - time::Duration::days(1),
                None,
            ),
        )?;
        let config = home.join("agency.toml");
        let toml = agency_toml(organ, &kid, &home, &axis.url_for(organ), root);
        std::fs::write(&config, toml)?;
        installed.push(Installed {
            organ_id,
            name: (*name).to_owned(),
            home,
            config,
            key_id: kid,
        });
    }
    let directory_file = operator.join("directory.json");
    SignedDirectory::sign(&directory, &root_key)?.save_new(&directory_file)?;

    let tracker_db = root.join("tracker").join("tracker.db");
    std::fs::create_dir_all(root.join("tracker"))?;
    let tracker_config = root.join("tracker").join("tracker.toml");
    std::fs::write(
        &tracker_config,
        format!(
            "# The demo's tracker (see deploy/tracker.example.toml).\n\
             axis = {}\ndb = {}\nlisten = \"{tracker_listen}\"\ndurable = true\n\n\
             [ingest]\nbatch_size = 1000\nbatch_wait_ms = 20\n",
            toml_str(tracker_axis),
            toml_str(&tracker_db.display().to_string()),
        ),
    )?;
    Ok(World {
        agencies: installed,
        directory: directory_file,
        root_pub,
        tracker_db,
        tracker_config,
    })
}

/// A TOML basic string: JSON's escaping is valid TOML escaping for
/// everything a path or URL contains.
fn toml_str(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

/// The `agency.toml` an integrator would write (see `docaxis adapter run --help`).
fn agency_toml(organ: &str, key_id: &str, home: &Path, axis: &str, root: &Path) -> String {
    let path = |p: PathBuf| toml_str(&p.display().to_string());
    format!(
        "# {organ}: the demo's adapter configuration.\n\
         organ_id = \"{organ}\"\n\
         key_file = {}\n\
         key_id = \"{key_id}\"\n\
         directory = {}\n\
         root_pub = {}\n\
         axis = {}\n\
         data_dir = {}\n",
        path(home.join("agency.key")),
        path(root.join("operator").join("directory.json")),
        path(root.join("operator").join("root.pub")),
        toml_str(axis),
        path(home.join("data")),
    )
}
