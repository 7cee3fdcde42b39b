//! `docaxis stats`: the figures as a table, CSV or JSON, read from the
//! tracker's database.
//!
//! It reads the database rather than the HTTP API: it works when the
//! tracker is stopped and on a backup copy, needs no address or credentials,
//! and a read-only WAL reader does not disturb the running tracker. It
//! computes with the same fold ([`crate::state`]) the tracker uses, so both
//! give the same figures.

use std::path::Path;

use serde::Serialize;

use crate::state::{Figures, Filter, Granularity, Latency, State, Ts};
use crate::store::{self, StoreError};

/// What the rows are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum By {
    /// One row: the totals.
    Total,
    /// One row per agency (as recipient, plus what it sent).
    Agency,
    /// One row per sender → recipient pair.
    Pair,
    /// One row per day of sending.
    Day,
    /// One row per hour of sending.
    Hour,
}

impl By {
    /// Parse `total|agency|pair|day|hour`.
    pub fn parse(s: &str) -> Option<By> {
        Some(match s {
            "total" | "totals" => By::Total,
            "agency" | "agencies" => By::Agency,
            "pair" | "pairs" => By::Pair,
            "day" | "days" => By::Day,
            "hour" | "hours" => By::Hour,
            _ => return None,
        })
    }
}

/// A rendered table: headers and rows of cells, plus the same as JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Table {
    /// Column names.
    pub headers: Vec<String>,
    /// Rows for people (durations as `1h05m`, rates as percents).
    pub rows: Vec<Vec<String>>,
    /// Rows for machines (durations in seconds, rates as fractions).
    pub raw_rows: Vec<Vec<String>>,
}

/// Replay the database at `db` into a [`State`].
pub fn load(db: &Path) -> Result<State, StoreError> {
    let conn = store::open_read(db)?;
    let mut s = State::new();
    store::replay(&conn, |e| s.apply(&e))?;
    Ok(s)
}

/// One row of the JSON output.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The row's key (agency, `sender → recipient`, bucket start…).
    pub key: String,
    /// Second key column for pairs (recipient).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
    /// For agencies: what it sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent: Option<Figures>,
    /// The figures.
    pub figures: Figures,
}

/// Compute the rows of `by` for `filter`.
pub fn rows(state: &State, filter: &Filter, by: By, limit: usize) -> Vec<Row> {
    let mut out: Vec<Row> = match by {
        By::Total => vec![Row {
            key: "total".into(),
            recipient: None,
            sent: None,
            figures: state.figures(filter),
        }],
        By::Agency => state
            .agencies(filter)
            .into_iter()
            .map(|a| Row {
                key: a.agency,
                recipient: None,
                sent: Some(a.as_sender),
                figures: a.as_recipient,
            })
            .collect(),
        By::Pair => state
            .pairs(filter)
            .into_iter()
            .map(|p| Row {
                key: p.sender,
                recipient: Some(p.recipient),
                sent: None,
                figures: p.figures,
            })
            .collect(),
        By::Day | By::Hour => {
            let g = if by == By::Day {
                Granularity::Day
            } else {
                Granularity::Hour
            };
            state
                .series(filter, g)
                .into_iter()
                .map(|b| Row {
                    key: local_time(b.start, g),
                    recipient: None,
                    sent: None,
                    figures: b.figures,
                })
                .collect()
        }
    };
    out.truncate(limit);
    out
}

/// `2022-07-01` or `2022-07-01 08:00` in Vietnam time.
pub fn local_time(t: Ts, g: Granularity) -> String {
    let Ok(dt) = time::OffsetDateTime::from_unix_timestamp(t) else {
        return t.to_string();
    };
    let dt = dt.to_offset(time::macros::offset!(+7));
    match g {
        Granularity::Day => format!("{:04}-{:02}-{:02}", dt.year(), dt.month() as u8, dt.day()),
        Granularity::Hour => format!(
            "{:04}-{:02}-{:02} {:02}:00",
            dt.year(),
            dt.month() as u8,
            dt.day(),
            dt.hour()
        ),
    }
}

/// Seconds as `45s`, `12m05s`, `3h20m`, `2d04h`.
pub fn human_duration(s: i64) -> String {
    match s {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s if s < 86400 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        s => format!("{}d{:02}h", s / 86400, (s % 86400) / 3600),
    }
}

fn pct(r: f64) -> String {
    format!("{:.1}%", r * 100.0)
}

fn lat(l: Option<i64>, human: bool) -> String {
    match (l, human) {
        (None, _) => "-".into(),
        (Some(v), true) => human_duration(v),
        (Some(v), false) => v.to_string(),
    }
}

/// Build the table of `rows`.
pub fn table(rows: &[Row], by: By) -> Table {
    let mut headers: Vec<String> = match by {
        By::Total => vec!["scope".into()],
        By::Agency => vec!["agency".into(), "sent".into()],
        By::Pair => vec!["sender".into(), "recipient".into()],
        By::Day => vec!["day".into()],
        By::Hour => vec!["hour".into()],
    };
    for h in [
        "documents",
        "expected",
        "arrived",
        "accepted",
        "refused",
        "completed",
        "recalled",
        "pending",
        "delivery_rate",
        "acceptance_rate",
        "arrival_p50",
        "arrival_p95",
        "arrival_p99",
        "acceptance_p50",
        "acceptance_p95",
        "acceptance_p99",
    ] {
        headers.push(h.into());
    }
    let mk = |r: &Row, human: bool| -> Vec<String> {
        let f = &r.figures;
        let mut v = vec![r.key.clone()];
        if let Some(rc) = &r.recipient {
            v.push(rc.clone());
        }
        if by == By::Agency {
            v.push(r.sent.as_ref().map_or(0, |s| s.expected).to_string());
        }
        let l = |x: &Latency| [x.p50, x.p95, x.p99];
        v.extend(
            [
                f.documents,
                f.expected,
                f.arrived,
                f.accepted,
                f.refused,
                f.completed,
                f.recalled,
                f.pending,
            ]
            .map(|n| n.to_string()),
        );
        if human {
            v.push(pct(f.delivery_rate));
            v.push(pct(f.acceptance_rate));
        } else {
            v.push(format!("{:.6}", f.delivery_rate));
            v.push(format!("{:.6}", f.acceptance_rate));
        }
        for x in l(&f.time_to_arrival)
            .into_iter()
            .chain(l(&f.time_to_acceptance))
        {
            v.push(lat(x, human));
        }
        v
    };
    Table {
        headers,
        rows: rows.iter().map(|r| mk(r, true)).collect(),
        raw_rows: rows.iter().map(|r| mk(r, false)).collect(),
    }
}

/// Aligned text; numbers right-aligned.
pub fn render_text(t: &Table) -> String {
    let n = t.headers.len();
    let mut w: Vec<usize> = t.headers.iter().map(|h| h.chars().count()).collect();
    for r in &t.rows {
        for (i, c) in r.iter().enumerate().take(n) {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: &[String], out: &mut String| {
        for (i, c) in cells.iter().enumerate() {
            let pad = w[i].saturating_sub(c.chars().count());
            let numeric = c
                .chars()
                .next()
                .is_some_and(|ch| ch.is_ascii_digit() || ch == '-')
                && i > 0;
            if i > 0 {
                out.push_str("  ");
            }
            if numeric {
                out.push_str(&" ".repeat(pad));
                out.push_str(c);
            } else {
                out.push_str(c);
                if i + 1 < cells.len() {
                    out.push_str(&" ".repeat(pad));
                }
            }
        }
        out.push('\n');
    };
    line(&t.headers, &mut out);
    for r in &t.rows {
        line(r, &mut out);
    }
    out
}

/// RFC 4180 CSV with machine values.
pub fn render_csv(t: &Table) -> String {
    let cell = |c: &str| {
        if c.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", c.replace('"', "\"\""))
        } else {
            c.to_string()
        }
    };
    let mut out = String::new();
    for r in std::iter::once(&t.headers).chain(&t.raw_rows) {
        let v: Vec<String> = r.iter().map(|c| cell(c)).collect();
        out.push_str(&v.join(","));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(human_duration(59), "59s");
        assert_eq!(human_duration(3725), "1h02m");
        assert_eq!(human_duration(90000), "1d01h");
        let t = Table {
            headers: vec!["a".into(), "b".into()],
            rows: vec![vec!["x,y".into(), "1".into()]],
            raw_rows: vec![vec!["x,y".into(), "1".into()]],
        };
        assert_eq!(render_csv(&t), "a,b\r\n\"x,y\",1\r\n");
        assert_eq!(render_text(&t), "a    b\nx,y  1\n");
    }
}
