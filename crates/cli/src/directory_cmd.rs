//! `docaxis directory …`: create, change, show and verify the signed agency
//! directory.
//!
//! Every command that changes the directory first checks the existing file's
//! signature with the public half of the root key it was given — so nobody
//! re-signs (and thereby launders) a file that was tampered with — then
//! applies the change, increases the serial, signs again and replaces the
//! file atomically.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use docaxis_directory::directory::{Agency, AgencyKey, AgencyStatus, Directory, KeyState};
use docaxis_directory::keys::{self, KeyId};
use docaxis_directory::{SignedDirectory, SigningKey};
use docaxis_edxml::OrganId;
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::output::OutputFormat;

/// The agency directory: which agencies are on the axis and which keys speak
/// for them.
#[derive(Debug, Subcommand)]
pub enum DirectoryCmd {
    /// Create a new, empty directory signed by the root key.
    #[command(after_help = "\
Example:
  docaxis keygen --out root          # once: the axis operator's root key pair
  docaxis directory init --root-key root.key --out directory.json

Publish root.pub to every participant through a channel you trust: it is what
they verify the directory with.")]
    Init(InitArgs),

    /// Add an agency (without keys; add them with add-key).
    #[command(after_help = "\
Example:
  docaxis directory add --directory directory.json --root-key root.key \\
      --id 000.00.00.G22 --name \"Văn phòng Chính phủ\" --name-en \"Office of the Government\"")]
    Add(AddArgs),

    /// Register a public key for an agency.
    ///
    /// An agency may hold several keys with overlapping validity windows:
    /// that is how keys are rotated without downtime. Register the new key,
    /// let the agency switch to it, then let the old key expire (or revoke
    /// it).
    #[command(after_help = "\
Example (rotation: the new key overlaps the old one for December):
  docaxis keygen --out vpcp-2026
  docaxis directory add-key --directory directory.json --root-key root.key \\
      --id 000.00.00.G22 --key-id 000.00.00.G22:2026 --public vpcp-2026.pub \\
      --not-before 2025-12-01T00:00:00+07:00 --not-after 2027-01-31T23:59:59+07:00

Times are RFC 3339, with an offset (+07:00 for Vietnam) or Z for UTC.")]
    AddKey(AddKeyArgs),

    /// Revoke a key: from then on, every signature by it is refused, whatever
    /// signing time the document claims.
    #[command(after_help = "\
Example:
  docaxis directory revoke --directory directory.json --root-key root.key \\
      --key-id 000.00.00.G22:2025 --reason \"key compromised\"

A revocation is final. Register a new key for the agency (add-key) first if
it must keep sending.")]
    Revoke(RevokeArgs),

    /// Suspend an agency (its signatures are refused) or reinstate it.
    #[command(after_help = "\
Example:
  docaxis directory set-status --directory directory.json --root-key root.key \\
      --id 000.00.00.H41 --status suspended")]
    SetStatus(SetStatusArgs),

    /// Show the agencies and keys of a verified directory.
    #[command(after_help = "\
Examples:
  docaxis directory show --directory directory.json --root-pub root.pub
  docaxis directory show --id 000.00.00.G22 --format json

The directory is verified first; an unverified directory is never shown.")]
    Show(ShowArgs),

    /// Check a directory file's signature and rules; exits non-zero, with the
    /// reason, if it must not be used.
    #[command(after_help = "\
Example:
  docaxis directory verify --directory directory.json --root-pub root.pub && echo usable")]
    Verify(VerifyArgs),
}

/// The file to change and the root key to check and re-sign it with.
#[derive(Debug, Args)]
pub struct SignerArgs {
    /// The directory file to change.
    #[arg(
        long,
        value_name = "FILE",
        env = "DOCAXIS_DIRECTORY",
        default_value = "directory.json"
    )]
    pub directory: PathBuf,
    /// The axis operator's root private key (PKCS#8 PEM). The file must
    /// verify with its public half before anything is changed.
    #[arg(long, value_name = "FILE", env = "DOCAXIS_ROOT_KEY")]
    pub root_key: PathBuf,
}

/// The file to read and the root public key to verify it with.
#[derive(Debug, Args)]
pub struct ReaderArgs {
    /// The directory file.
    #[arg(
        long,
        value_name = "FILE",
        env = "DOCAXIS_DIRECTORY",
        default_value = "directory.json"
    )]
    pub directory: PathBuf,
    /// The axis operator's root public key (SPKI PEM), as published by the
    /// operator.
    #[arg(long, value_name = "FILE", env = "DOCAXIS_ROOT_PUB")]
    pub root_pub: PathBuf,
}

/// `directory init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The axis operator's root private key (PKCS#8 PEM, from `docaxis keygen`).
    #[arg(long, value_name = "FILE", env = "DOCAXIS_ROOT_KEY")]
    pub root_key: PathBuf,
    /// Where to write the new directory. An existing file is never replaced.
    #[arg(long, value_name = "FILE", default_value = "directory.json")]
    pub out: PathBuf,
}

/// `directory add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    #[command(flatten)]
    pub signer: SignerArgs,
    /// The agency's OrganId, e.g. 000.00.00.G22 (national form NNN.NN.NN.Xnn;
    /// test systems may use free-form ids such as vxp.saas.03).
    #[arg(long, value_name = "ORGAN_ID", value_parser = parse_organ_id)]
    pub id: OrganId,
    /// The agency's official Vietnamese name, e.g. "Văn phòng Chính phủ".
    #[arg(long)]
    pub name: String,
    /// Its English name, if it has an official one.
    #[arg(long)]
    pub name_en: Option<String>,
}

/// `directory add-key`.
#[derive(Debug, Args)]
pub struct AddKeyArgs {
    #[command(flatten)]
    pub signer: SignerArgs,
    /// The agency the key belongs to (it must already be listed).
    #[arg(long, value_name = "ORGAN_ID", value_parser = parse_organ_id)]
    pub id: OrganId,
    /// The key's id, as signatures will name it in KeyInfo/KeyName. Unique
    /// across the whole directory; e.g. 000.00.00.G22:2026.
    #[arg(long, value_name = "KEY_ID", value_parser = parse_key_id)]
    pub key_id: KeyId,
    /// The agency's public key file (SPKI PEM, from `docaxis keygen`).
    #[arg(long, value_name = "FILE")]
    pub public: PathBuf,
    /// First instant signatures by the key are valid (RFC 3339); default now.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub not_before: Option<OffsetDateTime>,
    /// Last instant signatures by the key are valid (RFC 3339); default no end.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub not_after: Option<OffsetDateTime>,
}

/// `directory revoke`.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    #[command(flatten)]
    pub signer: SignerArgs,
    /// The key to revoke.
    #[arg(long, value_name = "KEY_ID", value_parser = parse_key_id)]
    pub key_id: KeyId,
    /// Why, for the agency and the other operators (e.g. "key compromised",
    /// "replaced by 000.00.00.G22:2026").
    #[arg(long)]
    pub reason: String,
    /// When the revocation takes effect (RFC 3339); default now.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub at: Option<OffsetDateTime>,
}

/// `directory set-status`.
#[derive(Debug, Args)]
pub struct SetStatusArgs {
    #[command(flatten)]
    pub signer: SignerArgs,
    /// The agency.
    #[arg(long, value_name = "ORGAN_ID", value_parser = parse_organ_id)]
    pub id: OrganId,
    /// The new status.
    #[arg(long, value_enum)]
    pub status: StatusArg,
}

/// An agency status on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StatusArg {
    /// May send signed documents.
    Active,
    /// Its signatures are refused.
    Suspended,
}

/// `directory show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    #[command(flatten)]
    pub reader: ReaderArgs,
    /// Show only this agency.
    #[arg(long, value_name = "ORGAN_ID", value_parser = parse_organ_id)]
    pub id: Option<OrganId>,
}

/// `directory verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub reader: ReaderArgs,
}

/// Runs a `docaxis directory` subcommand.
pub fn run(cmd: DirectoryCmd, format: OutputFormat) -> anyhow::Result<()> {
    match cmd {
        DirectoryCmd::Init(a) => init(a, format),
        DirectoryCmd::Add(a) => {
            let AddArgs {
                signer,
                id,
                name,
                name_en,
            } = a;
            let summary = format!("added agency {id} ({})", name.trim());
            mutate(&signer, format, "add", summary, |d, _| {
                let name_en = name_en
                    .map(|n| n.trim().to_owned())
                    .filter(|n| !n.is_empty());
                d.add_agency(Agency::new(id, name.trim(), name_en))
            })
        }
        DirectoryCmd::AddKey(a) => {
            let public = keys::read_public_key(&a.public)?;
            let summary = format!(
                "added key {} ({}) to agency {}",
                a.key_id,
                keys::fingerprint(&public),
                a.id
            );
            mutate(&a.signer, format, "add-key", summary, |d, now| {
                let not_before = a.not_before.unwrap_or(now);
                d.add_key(
                    &a.id,
                    AgencyKey::new(a.key_id.clone(), public, not_before, a.not_after),
                )
            })
        }
        DirectoryCmd::Revoke(a) => {
            let summary = format!("revoked key {} ({})", a.key_id, a.reason.trim());
            mutate(&a.signer, format, "revoke", summary, |d, now| {
                d.revoke_key(&a.key_id, a.at.unwrap_or(now), &a.reason)
            })
        }
        DirectoryCmd::SetStatus(a) => {
            let status = match a.status {
                StatusArg::Active => AgencyStatus::Active,
                StatusArg::Suspended => AgencyStatus::Suspended,
            };
            let summary = format!("agency {} is now {status}", a.id);
            mutate(&a.signer, format, "set-status", summary, |d, _| {
                d.set_status(&a.id, status)
            })
        }
        DirectoryCmd::Show(a) => show(a, format),
        DirectoryCmd::Verify(a) => verify(a, format),
    }
}

/// Now, to the second: directory times are for people to read.
fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond(0).unwrap_or(t)
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

fn read_root_key(path: &Path) -> anyhow::Result<SigningKey> {
    keys::read_private_key(path).context("cannot use the root key")
}

#[derive(Serialize)]
struct ChangeReport {
    action: &'static str,
    directory: String,
    summary: String,
    serial: u64,
    issued_at: String,
    root_key: String,
}

fn init(a: InitArgs, format: OutputFormat) -> anyhow::Result<()> {
    let root = read_root_key(&a.root_key)?;
    let directory = Directory::new(now());
    SignedDirectory::sign(&directory, &root)?.save_new(&a.out)?;
    let report = ChangeReport {
        action: "init",
        directory: a.out.display().to_string(),
        summary: "created an empty agency directory".into(),
        serial: directory.serial(),
        issued_at: rfc3339(directory.issued_at()),
        root_key: keys::fingerprint(&root.verifying_key()),
    };
    emit_change(&report, format)
}

/// Verifies the file with the root key's public half, applies `change`,
/// starts a new edition, re-signs and saves atomically.
fn mutate(
    signer: &SignerArgs,
    format: OutputFormat,
    action: &'static str,
    summary: String,
    change: impl FnOnce(&mut Directory, OffsetDateTime) -> Result<(), docaxis_directory::RuleError>,
) -> anyhow::Result<()> {
    let root = read_root_key(&signer.root_key)?;
    let path = &signer.directory;
    let mut directory = SignedDirectory::load(path, &root.verifying_key())
        .with_context(|| format!("refusing to change {}", path.display()))?;
    let now = now();
    change(&mut directory, now).with_context(|| format!("{} left unchanged", path.display()))?;
    directory.next_edition(now)?;
    SignedDirectory::sign(&directory, &root)?.save(path)?;

    let report = ChangeReport {
        action,
        directory: path.display().to_string(),
        summary,
        serial: directory.serial(),
        issued_at: rfc3339(directory.issued_at()),
        root_key: keys::fingerprint(&root.verifying_key()),
    };
    emit_change(&report, format)
}

fn emit_change(report: &ChangeReport, format: OutputFormat) -> anyhow::Result<()> {
    format.emit(report, || {
        format!(
            "{}\n{}: serial {}, issued {}, signed by root key {}",
            report.summary, report.directory, report.serial, report.issued_at, report.root_key
        )
    })
}

/// Loads and verifies the directory for show/verify.
pub(crate) fn load_verified(reader: &ReaderArgs) -> anyhow::Result<(Directory, String)> {
    load_directory(&reader.directory, &reader.root_pub)
}

/// Loads a directory file, refusing it unless it verifies with the root
/// public key; returns it with the root key's fingerprint. Every command
/// that reads the directory goes through here.
pub(crate) fn load_directory(
    directory: &Path,
    root_pub: &Path,
) -> anyhow::Result<(Directory, String)> {
    let root = keys::read_public_key(root_pub).context("cannot use the root public key")?;
    let loaded = SignedDirectory::load(directory, &root).with_context(|| {
        format!(
            "{} must not be used (checked with root key {})",
            directory.display(),
            root_pub.display()
        )
    })?;
    Ok((loaded, keys::fingerprint(&root)))
}

#[derive(Serialize)]
struct VerifyReport {
    valid: bool,
    directory: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    serial: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    issued_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    agencies: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    keys: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    root_key: Option<String>,
}

fn verify(a: VerifyArgs, format: OutputFormat) -> anyhow::Result<()> {
    let path = a.reader.directory.display().to_string();
    match load_verified(&a.reader) {
        Ok((d, root_key)) => {
            let keys = d.agencies().iter().map(|a| a.keys.len()).sum();
            let report = VerifyReport {
                valid: true,
                directory: path,
                error: None,
                serial: Some(d.serial()),
                issued_at: Some(rfc3339(d.issued_at())),
                agencies: Some(d.agencies().len()),
                keys: Some(keys),
                root_key: Some(root_key),
            };
            format.emit(&report, || {
                format!(
                    "{}: valid — serial {}, issued {}, {} agencies, {} keys, signed by root key {}",
                    report.directory,
                    d.serial(),
                    rfc3339(d.issued_at()),
                    d.agencies().len(),
                    keys,
                    report.root_key.as_deref().unwrap_or_default()
                )
            })
        }
        Err(e) => {
            // In JSON mode scripts get the verdict on stdout; the error is
            // still returned so the exit status is non-zero.
            if format == OutputFormat::Json {
                let report = VerifyReport {
                    valid: false,
                    directory: path,
                    error: Some(format!("{e:#}")),
                    serial: None,
                    issued_at: None,
                    agencies: None,
                    keys: None,
                    root_key: None,
                };
                format.emit(&report, String::new)?;
            }
            Err(e)
        }
    }
}

#[derive(Serialize)]
struct ShowReport<'a> {
    directory: String,
    serial: u64,
    issued_at: String,
    root_key: String,
    agencies: Vec<ShowAgency<'a>>,
}

#[derive(Serialize)]
struct ShowAgency<'a> {
    id: &'a str,
    name: &'a str,
    name_en: Option<&'a str>,
    status: AgencyStatus,
    keys: Vec<ShowKey<'a>>,
}

#[derive(Serialize)]
struct ShowKey<'a> {
    id: &'a str,
    state: KeyState,
    fingerprint: String,
    not_before: String,
    not_after: Option<String>,
    revoked_at: Option<String>,
    revocation_reason: Option<&'a str>,
}

fn show(a: ShowArgs, format: OutputFormat) -> anyhow::Result<()> {
    let (d, root_key) = load_verified(&a.reader)?;
    let now = now();
    let selected: Vec<&Agency> = match &a.id {
        Some(id) => vec![d
            .agency(id)
            .with_context(|| format!("agency {id} is not in {}", a.reader.directory.display()))?],
        None => d.agencies().iter().collect(),
    };
    let report = ShowReport {
        directory: a.reader.directory.display().to_string(),
        serial: d.serial(),
        issued_at: rfc3339(d.issued_at()),
        root_key,
        agencies: selected
            .iter()
            .map(|ag| ShowAgency {
                id: ag.id.as_str(),
                name: &ag.name,
                name_en: ag.name_en.as_deref(),
                status: ag.status,
                keys: ag
                    .keys
                    .iter()
                    .map(|k| ShowKey {
                        id: k.id.as_str(),
                        state: k.state_at(now),
                        fingerprint: k.fingerprint(),
                        not_before: rfc3339(k.not_before),
                        not_after: k.not_after.map(rfc3339),
                        revoked_at: k.revoked.as_ref().map(|r| rfc3339(r.at)),
                        revocation_reason: k.revoked.as_ref().map(|r| r.reason.as_str()),
                    })
                    .collect(),
            })
            .collect(),
    };
    format.emit(&report, || show_text(&report))
}

fn show_text(r: &ShowReport<'_>) -> String {
    let mut out = format!(
        "{} (verified): serial {}, issued {}, signed by root key {}\n\n",
        r.directory, r.serial, r.issued_at, r.root_key
    );
    if r.agencies.is_empty() {
        out.push_str("No agencies yet (add one with `docaxis directory add`).\n");
        return out;
    }

    let id_w = r
        .agencies
        .iter()
        .map(|a| a.id.len())
        .max()
        .unwrap_or(0)
        .max(9);
    out.push_str(&format!(
        "{:<id_w$}  {:<9}  {:>4}  NAME\n",
        "AGENCY", "STATUS", "KEYS"
    ));
    for a in &r.agencies {
        let usable = a
            .keys
            .iter()
            .filter(|k| k.state == KeyState::Active)
            .count();
        let name = match a.name_en {
            Some(en) => format!("{} ({en})", a.name),
            None => a.name.to_owned(),
        };
        out.push_str(&format!(
            "{:<id_w$}  {:<9}  {:>4}  {name}\n",
            a.id,
            a.status.to_string(),
            format!("{usable}/{}", a.keys.len()),
        ));
    }

    let keys: Vec<(&ShowAgency<'_>, &ShowKey<'_>)> = r
        .agencies
        .iter()
        .flat_map(|a| a.keys.iter().map(move |k| (a, k)))
        .collect();
    if keys.is_empty() {
        out.push_str("\nNo keys registered (add them with `docaxis directory add-key`).\n");
        return out;
    }
    let key_w = keys
        .iter()
        .map(|(_, k)| k.id.len())
        .max()
        .unwrap_or(0)
        .max(6);
    let time_w = keys
        .iter()
        .flat_map(|(_, k)| {
            [
                k.not_before.len(),
                k.not_after.as_ref().map_or(0, String::len),
            ]
        })
        .max()
        .unwrap_or(0)
        .max(5);
    out.push_str(&format!(
        "\n{:<id_w$}  {:<key_w$}  {:<13}  {:<time_w$}  {:<time_w$}  FINGERPRINT\n",
        "AGENCY", "KEY ID", "STATE", "FROM", "UNTIL"
    ));
    for (a, k) in &keys {
        out.push_str(&format!(
            "{:<id_w$}  {:<key_w$}  {:<13}  {:<time_w$}  {:<time_w$}  {}\n",
            a.id,
            k.id,
            k.state.to_string(),
            k.not_before,
            k.not_after.as_deref().unwrap_or("(no end)"),
            k.fingerprint
        ));
        if let (Some(at), Some(reason)) = (&k.revoked_at, k.revocation_reason) {
            out.push_str(&format!(
                "{:<id_w$}  {:<key_w$}  revoked at {at}: {reason}\n",
                "", ""
            ));
        }
    }
    out
}

pub(crate) fn parse_organ_id(s: &str) -> Result<OrganId, String> {
    OrganId::parse(s).map_err(|e| e.to_string())
}

fn parse_key_id(s: &str) -> Result<KeyId, String> {
    KeyId::parse(s).map_err(|e| e.to_string())
}

pub(crate) fn parse_time(s: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(s, &Rfc3339).map_err(|e| {
        format!("{s:?} is not an RFC 3339 time ({e}); write e.g. 2026-12-01T00:00:00+07:00")
    })
}
