//! How commands report: human text or JSON for scripts.

use clap::ValueEnum;
use serde::Serialize;

/// `--format`: what a command prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    /// Readable text for people.
    #[default]
    Text,
    /// One JSON document on stdout, for scripts.
    Json,
}

impl OutputFormat {
    /// Prints `value` as JSON, or `text()` as text.
    pub fn emit<T: Serialize>(
        self,
        value: &T,
        text: impl FnOnce() -> String,
    ) -> anyhow::Result<()> {
        match self {
            OutputFormat::Json => println!("{}", serde_json::to_string_pretty(value)?),
            OutputFormat::Text => {
                let t = text();
                if !t.is_empty() {
                    println!("{}", t.trim_end());
                }
            }
        }
        Ok(())
    }
}

/// The input was looked at and refused (exit code 1), as opposed to the
/// command failing to run (exit code 2). The report was already printed;
/// this carries the one-line summary for stderr.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);
