//! `docaxis adapter run` and `docaxis status send`: the agency's side.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use docaxis_adapter::{folders, Config, StatusRequest};
use serde::Serialize;

use crate::output::OutputFormat;

/// The adapter daemon of one agency.
#[derive(Debug, Subcommand)]
pub enum AdapterCmd {
    /// Run the adapter until SIGTERM: send what appears in outbox/, receive into inbox/.
    #[command(after_help = "\
The configuration (agency.toml; every key can be overridden by DOCAXIS_<KEY>):
  organ_id = \"000.00.00.G22\"
  key_file = \"/etc/docaxis/vpcp.key\"
  key_id = \"G22-2026\"
  directory = \"/etc/docaxis/directory.json\"
  root_pub = \"/etc/docaxis/root.pub\"
  axis = \"amqp://vpcp:secret@127.0.0.1:5672\"   # or file:///var/lib/docaxis/axis
  data_dir = \"/var/lib/docaxis/vpcp\"
  http = \"127.0.0.1:8410\"                       # optional, loopback only

Folders under data_dir: outbox/ (write elsewhere, rename in), sent/, rejected/
(with .error files), inbox/, status-outbox/ (JSON requests), status-inbox/.")]
    Run(RunArgs),
}

/// `adapter run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The agency's configuration file.
    #[arg(long, value_name = "FILE", env = "DOCAXIS_CONFIG")]
    config: PathBuf,
}

/// Runs an adapter subcommand.
pub fn run(cmd: AdapterCmd) -> anyhow::Result<()> {
    match cmd {
        AdapterCmd::Run(a) => {
            let config = Config::load(&a.config, |k| std::env::var(k).ok())?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            runtime.block_on(docaxis_adapter::run(config))?;
            Ok(())
        }
    }
}

/// Statuses the clerk decides.
#[derive(Debug, Subcommand)]
pub enum StatusCmd {
    /// Ask the adapter to send a status (03 accepted … 06 completed, 02 refused, 13 recall, 15/16).
    #[command(after_help = "\
Example: accept a received document
  docaxis status send --data-dir /var/lib/docaxis/btc \\
    --document-id '000.00.00.G22,2026/11/22,123/VPCP-KSTT' --code 03

The request is written atomically to DATA_DIR/status-outbox/; the running
adapter signs and sends it (a refused request lands in rejected/ with a .error).")]
    Send(SendArgs),
}

/// `status send`.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// The adapter's data directory.
    #[arg(long, value_name = "DIR", env = "DOCAXIS_DATA_DIR")]
    data_dir: PathBuf,
    /// The document the status is about.
    #[arg(long)]
    document_id: String,
    /// The status code: 02, 03, 04, 05, 06, 13, 15 or 16.
    #[arg(long)]
    code: String,
    /// The reason (mandatory for 02).
    #[arg(long, default_value = "")]
    description: String,
}

#[derive(Serialize)]
struct Queued {
    request: String,
}

/// Runs a status subcommand.
pub fn status(cmd: StatusCmd, format: OutputFormat) -> anyhow::Result<()> {
    let StatusCmd::Send(a) = cmd;
    let code =
        docaxis_edxml::StatusCode::parse(&a.code).map_err(|e| anyhow::anyhow!("--code: {e}"))?;
    if code == docaxis_edxml::StatusCode::Arrived {
        anyhow::bail!(
            "--code 01: the adapter sends 01 (arrived) by itself when a document reaches the inbox"
        );
    }
    let req = StatusRequest {
        document_id: a.document_id,
        code: code.wire(),
        description: a.description,
    };
    let dir = a.data_dir.join(folders::STATUS_OUTBOX);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let name = format!("{nanos}-{}.json", std::process::id());
    let path = docaxis_adapter::fsio::write_atomic(&dir, &name, &serde_json::to_vec(&req)?)
        .with_context(|| format!("cannot write to {}", dir.display()))?;
    let report = Queued {
        request: path.display().to_string(),
    };
    format.emit(&report, || {
        format!("queued {} for the adapter", report.request)
    })
}
