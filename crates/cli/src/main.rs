//! `docaxis`: the command-line tool of the national document interchange
//! axis. It only wires the library crates together: every rule lives in
//! them.
//!
//! Exit codes: 0 success; 1 the input was refused (invalid document, bad
//! signature, failed check); 2 the command could not run (usage, a missing
//! or unreadable file, a bad key or directory).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod adapter_cmd;
mod bench;
mod broker_cmd;
mod demo;
mod directory_cmd;
mod keygen_cmd;
mod message_cmd;
mod output;
mod stats_cmd;
mod tracker_cmd;

use output::OutputFormat;

/// docaxis — sign, verify and route official documents (edXML, QCVN 102:2016)
/// between state agencies.
#[derive(Debug, Parser)]
#[command(
    name = "docaxis",
    version,
    propagate_version = true,
    after_help = "\
A first session:
  docaxis keygen --out vpcp                      # vpcp.key (0600) and vpcp.pub
  docaxis new --from '000.00.00.G22=Văn phòng Chính phủ' \\
      --to '000.00.00.G12=Bộ Tài chính' --number 123 --notation VPCP-KSTT \\
      --content-file seeds/000_4709921e39f7032c.txt --out cv123.xml
  docaxis validate cv123.xml
  docaxis sign cv123.xml --key vpcp.key --key-id G22-2026 --out cv123.signed.xml
  docaxis verify cv123.signed.xml --directory directory.json --root-pub root.pub

Exit codes: 0 ok, 1 refused (invalid or forged input), 2 could not run.
Logs go to stderr; set DOCAXIS_LOG=debug for more."
)]
struct Cli {
    /// How to report: text for people, json for scripts.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value_t,
        env = "DOCAXIS_FORMAT"
    )]
    format: OutputFormat,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// See the whole axis work: ten agencies exchange the seed articles, statuses come back, the tracker counts.
    Demo(demo::DemoArgs),
    /// Measure the axis end to end: N agencies' adapters and the tracker over RabbitMQ, beside bare lapin.
    Bench(bench::BenchArgs),
    /// Compose an edXML document from a text file and a few facts.
    New(message_cmd::NewArgs),
    /// Check edXML files: structure, mandatory fields, dates, recipients, manifest.
    Validate(message_cmd::ValidateArgs),
    /// Sign an edXML file with an agency key (enveloped XML-DSig, Ed25519).
    Sign(message_cmd::SignArgs),
    /// Verify a signed edXML file against the agency directory.
    Verify(message_cmd::VerifyArgs),
    /// Run an agency's adapter daemon.
    #[command(subcommand)]
    Adapter(adapter_cmd::AdapterCmd),
    /// The axis operator's broker tasks: declare the topology, provision agency users.
    #[command(subcommand)]
    Broker(broker_cmd::BrokerCmd),
    /// Send a status decided by the clerk (through a running adapter).
    #[command(subcommand)]
    Status(adapter_cmd::StatusCmd),
    /// The tracker: delivery rates, latencies, overdue list (JSON API, /metrics, dashboard).
    #[command(subcommand)]
    Tracker(tracker_cmd::TrackerCmd),
    /// Delivery figures from the tracker's database: a table, --format json, or --csv.
    Stats(stats_cmd::StatsArgs),
    /// Verify the tracker's hash-chained event log.
    #[command(subcommand)]
    Audit(stats_cmd::AuditCmd),
    /// Make an Ed25519 key pair: PREFIX.key (PKCS#8 PEM, mode 0600) and PREFIX.pub (SPKI PEM).
    Keygen(keygen_cmd::KeygenArgs),
    /// Manage the signed agency directory: init, add, add-key, revoke, set-status, show, verify.
    #[command(subcommand)]
    Directory(directory_cmd::DirectoryCmd),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DOCAXIS_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        // Colours for a person at a terminal only: a log file or the
        // journal gets plain lines that grep and the suites can read.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(a) => demo::run(a, cli.format),
        Command::Bench(a) => bench::run(a, cli.format),
        Command::New(a) => message_cmd::new(a, cli.format),
        Command::Validate(a) => message_cmd::validate(a, cli.format),
        Command::Sign(a) => message_cmd::sign(a, cli.format),
        Command::Verify(a) => message_cmd::verify(a, cli.format),
        Command::Adapter(c) => adapter_cmd::run(c),
        Command::Broker(c) => broker_cmd::run(c, cli.format),
        Command::Status(c) => adapter_cmd::status(c, cli.format),
        Command::Tracker(c) => tracker_cmd::run(c, cli.format),
        Command::Stats(a) => stats_cmd::stats(a, cli.format),
        Command::Audit(c) => stats_cmd::audit(c, cli.format),
        Command::Keygen(a) => keygen_cmd::run(a, cli.format),
        Command::Directory(c) => directory_cmd::run(c, cli.format),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is::<output::Refused>() => {
            eprintln!("refused: {e:#}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
