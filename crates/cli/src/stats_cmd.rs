//! `docaxis stats` (the tracker's figures in the terminal) and
//! `docaxis audit verify` (the tracker's hash chain).
//!
//! Both read the tracker's SQLite database directly, read-only: they work
//! while the tracker runs (WAL readers do not block it), when it is
//! stopped, and on a backup copy, with no address or credentials to give.
//! `stats` computes with the tracker's own fold, so it prints the figures
//! the API would.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Subcommand, ValueEnum};
use docaxis_tracker::report::{self, By};
use docaxis_tracker::{store, Config, Filter};
use serde::Serialize;

use crate::output::{OutputFormat, Refused};

/// Which database.
#[derive(Debug, Args)]
pub struct DbArgs {
    /// The tracker's database (default: `db` of --config, else tracker.db).
    #[arg(long, value_name = "FILE", env = "DOCAXIS_TRACKER_DB")]
    pub db: Option<PathBuf>,
    /// tracker.toml, to take the database path from.
    #[arg(long, value_name = "FILE", env = "DOCAXIS_TRACKER_CONFIG")]
    pub config: Option<PathBuf>,
}

impl DbArgs {
    fn path(&self) -> anyhow::Result<PathBuf> {
        match &self.db {
            Some(p) => Ok(p.clone()),
            None => Ok(Config::load(self.config.as_deref())?.db),
        }
    }
}

/// Rows of `docaxis stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatsBy {
    /// One row of totals.
    Total,
    /// One row per agency (deliveries to it; `sent`: deliveries of what it sent).
    Agency,
    /// One row per sender → recipient pair.
    Pair,
    /// One row per day of sending (Vietnam time).
    Day,
    /// One row per hour of sending.
    Hour,
}

/// Print delivery figures from the tracker's database.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  docaxis stats --db tracker.db --period 2022-07                 # national totals of July 2022
  docaxis stats --db tracker.db --period 2022-07 --by agency     # per ministry / province
  docaxis stats --db tracker.db --agency 000.00.00.H41 --by day  # one province, per day
  docaxis stats --db tracker.db --pair 000.00.00.G22,000.00.00.G12 --by hour
  docaxis stats --db tracker.db --by pair --csv > pairs.csv      # or --format json

Periods are those of sending, in Vietnam time. delivery_rate = arrived / expected;
arrived = status 01 (or any later status of the recipient).")]
pub struct StatsArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// What the rows are.
    #[arg(long, value_enum, default_value_t = StatsBy::Total)]
    pub by: StatsBy,
    /// A month (2022-07) or a day (2022-07-01).
    #[arg(long, conflicts_with_all = ["from", "to"])]
    pub period: Option<String>,
    /// Period start: YYYY-MM-DD, RFC 3339 or Unix seconds.
    #[arg(long)]
    pub from: Option<String>,
    /// Period end: YYYY-MM-DD (inclusive day), RFC 3339 or Unix seconds (exclusive).
    #[arg(long)]
    pub to: Option<String>,
    /// Deliveries to or from this agency.
    #[arg(long)]
    pub agency: Option<String>,
    /// Documents sent by this agency.
    #[arg(long)]
    pub sender: Option<String>,
    /// Deliveries to this agency.
    #[arg(long)]
    pub recipient: Option<String>,
    /// One pair: SENDER,RECIPIENT.
    #[arg(long, value_name = "SENDER,RECIPIENT", conflicts_with_all = ["sender", "recipient"])]
    pub pair: Option<String>,
    /// Most rows.
    #[arg(long, default_value_t = 1000)]
    pub limit: usize,
    /// CSV (machine values: seconds, fractions) instead of a table; same as --format csv.
    #[arg(long)]
    pub csv: bool,
}

fn period(s: &str) -> anyhow::Result<(i64, i64)> {
    let parse = |d: &str| docaxis_tracker::http::parse_time(d, false);
    match s.len() {
        7 => {
            let (y, m) = s
                .split_once('-')
                .context("--period: expected YYYY-MM or YYYY-MM-DD")?;
            let (y, m): (i32, u8) = (y.parse()?, m.parse()?);
            let start = parse(&format!("{y:04}-{m:02}-01"));
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            let end = parse(&format!("{ny:04}-{nm:02}-01"));
            match (start, end) {
                (Some(a), Some(b)) => Ok((a, b)),
                _ => bail!("--period {s:?}: expected YYYY-MM or YYYY-MM-DD"),
            }
        }
        10 => match parse(s) {
            Some(a) => Ok((a, a + 86400)),
            None => bail!("--period {s:?}: expected YYYY-MM or YYYY-MM-DD"),
        },
        _ => bail!("--period {s:?}: expected YYYY-MM or YYYY-MM-DD"),
    }
}

#[derive(Serialize)]
struct StatsReport<'a> {
    db: String,
    by: By,
    filter: &'a Filter,
    rows: Vec<report::Row>,
}

/// Runs `docaxis stats`.
pub fn stats(args: StatsArgs, format: OutputFormat) -> anyhow::Result<()> {
    let db = args.db.path()?;
    let mut filter = Filter {
        agency: args.agency.clone(),
        sender: args.sender.clone(),
        recipient: args.recipient.clone(),
        ..Filter::default()
    };
    if let Some(p) = &args.pair {
        let (s, r) = p
            .split_once(',')
            .context("--pair: expected SENDER,RECIPIENT")?;
        filter.sender = Some(s.trim().to_string());
        filter.recipient = Some(r.trim().to_string());
    }
    if let Some(p) = &args.period {
        let (a, b) = period(p)?;
        filter.from = Some(a);
        filter.to = Some(b);
    }
    let t = |s: &Option<String>, end: bool, what: &str| -> anyhow::Result<Option<i64>> {
        s.as_deref()
            .map(|v| {
                docaxis_tracker::http::parse_time(v, end).with_context(|| {
                    format!("{what} {v:?}: expected YYYY-MM-DD, RFC 3339 or Unix seconds")
                })
            })
            .transpose()
    };
    if let Some(v) = t(&args.from, false, "--from")? {
        filter.from = Some(v);
    }
    if let Some(v) = t(&args.to, true, "--to")? {
        filter.to = Some(v);
    }
    let by = match args.by {
        StatsBy::Total => By::Total,
        StatsBy::Agency => By::Agency,
        StatsBy::Pair => By::Pair,
        StatsBy::Day => By::Day,
        StatsBy::Hour => By::Hour,
    };
    let state = report::load(&db).with_context(|| format!("reading {}", db.display()))?;
    let rows = report::rows(&state, &filter, by, args.limit);
    // `--format csv` works once the global OutputFormat has a Csv variant;
    // `--csv` always does.
    let name = format
        .to_possible_value()
        .map(|v| v.get_name().to_string())
        .unwrap_or_default();
    if args.csv || name == "csv" {
        print!("{}", report::render_csv(&report::table(&rows, by)));
        return Ok(());
    }
    let table = report::table(&rows, by);
    let out = StatsReport {
        db: db.display().to_string(),
        by,
        filter: &filter,
        rows,
    };
    format.emit(&out, || report::render_text(&table))
}

/// `docaxis audit …`.
#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Recompute the tracker's hash chain: detects altered, removed, inserted or reordered records and a cut tail.
    #[command(after_help = "\
Examples:
  docaxis audit verify --db tracker.db
  # against a head recorded earlier (GET /api/v1/audit/head, e.g. in a daily report):
  docaxis audit verify --db tracker.db --expect 2481337:9f2c…e1

Exit codes: 0 the chain is intact; 1 it is not (problems listed); 2 could not run.")]
    Verify(AuditArgs),
}

/// Arguments of `docaxis audit verify`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// A head recorded earlier, SEQ:HASH: it must be in the chain.
    #[arg(long, value_name = "SEQ:HASH")]
    pub expect: Option<String>,
}

/// Runs `docaxis audit …`.
pub fn audit(cmd: AuditCmd, format: OutputFormat) -> anyhow::Result<()> {
    let AuditCmd::Verify(args) = cmd;
    let db = args.db.path()?;
    let expect = match &args.expect {
        Some(s) => {
            Some(store::parse_head(s).context("--expect: expected SEQ:HASH (64 hex digits)")?)
        }
        None => None,
    };
    let report =
        store::verify(&db, expect.as_ref()).with_context(|| format!("reading {}", db.display()))?;
    format.emit(&report, || {
        let mut s = format!(
            "{}: {} records, head {}:{}\n",
            db.display(),
            report.records,
            report.head.seq,
            report.head.hash
        );
        if report.ok {
            s.push_str("the hash chain is intact");
            if let Some(a) = &report.anchor {
                s.push_str(&format!(" (anchors file up to record {})", a.seq));
            }
            if expect.is_some() {
                s.push_str(", and holds the expected head");
            }
        } else {
            s.push_str("THE HASH CHAIN IS BROKEN:\n");
            for p in &report.problems {
                s.push_str(&format!("  - {p}\n"));
            }
        }
        s
    })?;
    if report.ok {
        Ok(())
    } else {
        Err(Refused(format!(
            "{}: the hash chain is broken ({} problems)",
            db.display(),
            report.problems.len()
        ))
        .into())
    }
}
