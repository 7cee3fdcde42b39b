//! `docaxis keygen`: make an Ed25519 key pair for an agency or for the axis
//! operator's root.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::Args;
use docaxis_directory::keys;
use serde::Serialize;

use crate::output::OutputFormat;

/// Make a new Ed25519 key pair.
///
/// Writes PREFIX.key, the private key (PKCS#8 PEM, created with mode 0600),
/// and PREFIX.pub, its public half (SPKI PEM). Existing files are never
/// overwritten: if either exists, nothing is written.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  # An agency's signing key; give vpcp-2026.pub to the axis operator:
  docaxis keygen --out keys/vpcp-2026

  # The operator registers it in the agency directory:
  docaxis directory add-key --directory directory.json --root-key root.key \\
      --id 000.00.00.G22 --key-id 000.00.00.G22:2026 --public keys/vpcp-2026.pub

The private key never leaves the machine it was made on: keep PREFIX.key
readable by its owner only (it is created so) and back it up offline.")]
pub struct KeygenArgs {
    /// Path prefix of the key pair: writes PREFIX.key and PREFIX.pub
    /// (e.g. `--out keys/vpcp-2026`). Refuses to overwrite existing files.
    #[arg(long, value_name = "PREFIX")]
    pub out: PathBuf,
}

#[derive(Serialize)]
struct Report {
    private_key: String,
    public_key: String,
    fingerprint: String,
}

/// Runs `docaxis keygen`.
pub fn run(args: KeygenArgs, format: OutputFormat) -> anyhow::Result<()> {
    let private = with_suffix(&args.out, ".key");
    let public = with_suffix(&args.out, ".pub");
    let key = keys::generate();
    keys::write_key_pair(&private, &public, &key)?;

    let report = Report {
        private_key: private.display().to_string(),
        public_key: public.display().to_string(),
        fingerprint: keys::fingerprint(&key.verifying_key()),
    };
    format.emit(&report, || {
        format!(
            "private key  {} (mode 0600: keep it secret, back it up offline)\n\
             public key   {}\n\
             fingerprint  {}\n\
             \n\
             Give {} to the axis operator to register it in the agency directory\n\
             (docaxis directory add-key); compare the fingerprint with theirs.",
            report.private_key, report.public_key, report.fingerprint, report.public_key
        )
    })
}

/// `PREFIX` + suffix, appended rather than replacing an extension, so that
/// `--out keys/vpcp.2026` gives `keys/vpcp.2026.key`, not `keys/vpcp.key`.
fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut s = OsString::from(prefix.as_os_str());
    s.push(suffix);
    PathBuf::from(s)
}
