//! `docaxis tracker`: run the tracker, the operators' view of the axis
//! (delivery rates, latencies, overdue list; JSON API, /metrics, dashboard).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use docaxis_tracker::Config;

use crate::output::OutputFormat;

/// `docaxis tracker …`.
#[derive(Debug, Subcommand)]
pub enum TrackerCmd {
    /// Consume the axis's tap and serve the JSON API, /metrics and the dashboard (until Ctrl-C).
    #[command(after_help = "\
Examples:
  docaxis tracker run --config /etc/docaxis/tracker.toml
  DOCAXIS_TRACKER_AXIS=file:///var/lib/docaxis/axis DOCAXIS_TRACKER_DB=tracker.db docaxis tracker run

Then open http://127.0.0.1:8470/ (dashboard), /api/v1/totals, /metrics.
Every setting of the file can be overridden by a DOCAXIS_TRACKER_* variable
(see deploy/tracker.example.toml).")]
    Run(ConfigArgs),
    /// Print the effective configuration (file, then environment overrides) and exit.
    Config(ConfigArgs),
}

/// Where the configuration comes from.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// tracker.toml (see deploy/tracker.example.toml); without it: defaults
    /// and the DOCAXIS_TRACKER_* variables.
    #[arg(long, value_name = "FILE", env = "DOCAXIS_TRACKER_CONFIG")]
    pub config: Option<PathBuf>,
}

/// Runs `docaxis tracker …`.
pub fn run(cmd: TrackerCmd, format: OutputFormat) -> anyhow::Result<()> {
    match cmd {
        TrackerCmd::Run(a) => {
            let config = Config::load(a.config.as_deref())?;
            docaxis_tracker::run_blocking(config)
        }
        TrackerCmd::Config(a) => {
            let c = Config::load(a.config.as_deref())?;
            format.emit(&c, || {
                let th = c.thresholds.0;
                format!(
                    "axis        {}\ndb          {}\nlisten      {}\ndurable     {}\nbatch       {} deliveries or {} ms\n\
                     overdue     normal {}s, urgent {}s, very urgent {}s, express {}s, express timed {}s",
                    c.axis.as_deref().unwrap_or("(default embedded axis)"),
                    c.db.display(),
                    c.listen,
                    c.durable,
                    c.batch_size,
                    c.batch_wait_ms,
                    th[0],
                    th[1],
                    th[2],
                    th[3],
                    th[4]
                )
            })
        }
    }
}
