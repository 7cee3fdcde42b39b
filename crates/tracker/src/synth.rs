//! Synthetic national traffic, for the bench, the dashboard test and demos:
//! records built directly (no XML), deterministic for a seed.
//!
//! Shape (July 2022 as reported: ≈172,000 documents, ≈620,000 deliveries):
//! 31 ministries and government bodies (`000.00.00.G01`…), 63 provinces
//! (`000.00.00.H01`…), 36 other units; documents sent in working hours,
//! 1 to 8 recipients (mean ≈3.6), priorities mostly normal; per delivery an
//! arrival (98.5 %, minutes, sometimes hours), acceptance, assignment,
//! completion, a few refusals and recalls: ≈4 events per delivery.

use crate::state::{DocumentEvent, Event, StatusEvent, Ts};
use crate::store::Record;

/// A small deterministic PRNG (SplitMix64).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

/// The agency ids used: 31 `G`, 63 `H`, 36 sub-units.
pub fn agencies() -> Vec<String> {
    let mut v = Vec::new();
    for i in 1..=31 {
        v.push(format!("000.00.00.G{i:02}"));
    }
    for i in 1..=63 {
        v.push(format!("000.00.00.H{i:02}"));
    }
    for i in 1..=36 {
        v.push(format!("000.00.{:02}.G{:02}", 10 + i % 20, 1 + i % 31));
    }
    v
}

/// Start of July 2022, Vietnam time.
pub const JULY_2022: Ts = 1_656_608_400;

/// Generate about `deliveries` deliveries from `start` over `days` days,
/// with their statuses. Returns the records in a plausible tap order
/// (each document's copies, then its statuses).
pub fn traffic(seed: u64, deliveries: u64, start: Ts, days: u32) -> Vec<Record> {
    let mut t = Traffic::new(seed, start, days);
    let mut out = Vec::with_capacity((deliveries * 4) as usize + 16);
    while t.deliveries() < deliveries {
        t.next_document(&mut out);
    }
    out
}

/// The generator of [`traffic`], one document at a time: for a stream
/// longer than what fits in memory at once (the memory bench).
#[derive(Debug, Clone)]
pub struct Traffic {
    rng: Rng,
    agencies: Vec<String>,
    start: Ts,
    days: u32,
    msg: u64,
    made: u64,
    number: u64,
}

impl Traffic {
    /// Seeded; documents from `start` over `days` days.
    pub fn new(seed: u64, start: Ts, days: u32) -> Traffic {
        Traffic {
            rng: Rng::new(seed),
            agencies: agencies(),
            start,
            days,
            msg: seed << 40,
            made: 0,
            number: 0,
        }
    }

    /// Deliveries generated so far.
    pub fn deliveries(&self) -> u64 {
        self.made
    }

    /// Append the next document's records (its copies, then its statuses)
    /// to `out`.
    pub fn next_document(&mut self, out: &mut Vec<Record>) {
        let Traffic {
            rng,
            agencies: ag,
            start,
            days,
            msg,
            made,
            number,
        } = self;
        let (start, days) = (*start, *days);
        let n = ag.len() as u64;
        let mut mid = || {
            *msg += 1;
            format!("{msg:064x}")
        };
        *number += 1;
        // Senders: the Office of the Government and ministries send more.
        let s = if rng.chance(0.25) {
            rng.below(31)
        } else {
            rng.below(n)
        } as usize;
        let k = 1 + rng.below(4) + rng.below(4); // 1..=7, mean ≈ 4
        let k = if rng.chance(0.1) { 1 } else { k };
        let mut rs: Vec<usize> = Vec::new();
        while rs.len() < k as usize {
            let r = if rng.chance(0.5) {
                31 + rng.below(63)
            } else {
                rng.below(n)
            } as usize;
            if r != s && !rs.contains(&r) {
                rs.push(r);
            }
        }
        let day = rng.below(u64::from(days.max(1))) as i64;
        let sec = 7 * 3600 + 1800 + rng.below(9 * 3600) as i64;
        let sent_at = start + day * 86400 + sec;
        let priority = match rng.below(100) {
            0..=84 => 0,
            85..=93 => 1,
            94..=97 => 2,
            98 => 3,
            _ => 4,
        };
        let sender = ag[s].clone();
        let document_id = format!(
            "{sender},{},{number}/SYN",
            crate::report::local_time(sent_at, crate::state::Granularity::Day).replace('-', "/")
        );
        let recipients: Vec<String> = rs.iter().map(|&r| ag[r].clone()).collect();
        let doc_mid = mid();
        for r in &recipients {
            out.push(Record {
                message_id: doc_mid.clone(),
                recipient: r.clone(),
                observed_at: sent_at + 1,
                event: Event::Document(DocumentEvent {
                    document_id: document_id.clone(),
                    sender: sender.clone(),
                    recipients: recipients.clone(),
                    priority,
                    sent_at,
                }),
            });
        }
        let recalled = rng.chance(0.003);
        if recalled {
            for r in &recipients {
                out.push(status(
                    &mut mid,
                    &document_id,
                    &sender,
                    &sender,
                    r,
                    13,
                    sent_at + 7200,
                    "",
                ));
            }
        }
        for (j, r) in recipients.iter().enumerate() {
            *made += 1;
            // A slow agency now and then: every 17th agency is slow.
            let slow = rs[j].is_multiple_of(17);
            if !rng.chance(if slow { 0.95 } else { 0.985 }) {
                continue; // never arrives: overdue
            }
            let base = 20 + rng.below(if slow { 5400 } else { 600 }) as i64;
            let arrive = sent_at
                + if rng.chance(0.03) {
                    base + rng.below(6 * 3600) as i64
                } else {
                    base
                };
            out.push(status(
                &mut mid,
                &document_id,
                &sender,
                r,
                &sender,
                1,
                arrive,
                "",
            ));
            if rng.chance(0.01) {
                let why = [
                    "Sai thẩm quyền giải quyết",
                    "Thiếu chữ ký số",
                    "Gửi nhầm đơn vị",
                ][rng.below(3) as usize];
                out.push(status(
                    &mut mid,
                    &document_id,
                    &sender,
                    r,
                    &sender,
                    2,
                    arrive + 600,
                    why,
                ));
                continue;
            }
            if rng.chance(0.94) {
                let acc = arrive + 300 + rng.below(4 * 3600) as i64;
                out.push(status(
                    &mut mid,
                    &document_id,
                    &sender,
                    r,
                    &sender,
                    3,
                    acc,
                    "",
                ));
                if rng.chance(0.75) {
                    out.push(status(
                        &mut mid,
                        &document_id,
                        &sender,
                        r,
                        &sender,
                        4,
                        acc + 1800,
                        "",
                    ));
                }
                if rng.chance(0.42) {
                    out.push(status(
                        &mut mid,
                        &document_id,
                        &sender,
                        r,
                        &sender,
                        6,
                        acc + 86400,
                        "",
                    ));
                }
            }
            if recalled {
                out.push(status(
                    &mut mid,
                    &document_id,
                    &sender,
                    r,
                    &sender,
                    15,
                    sent_at + 7300,
                    "",
                ));
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn status(
    mid: &mut impl FnMut() -> String,
    document_id: &str,
    original_sender: &str,
    from: &str,
    to: &str,
    code: u8,
    at: Ts,
    why: &str,
) -> Record {
    Record {
        message_id: mid(),
        recipient: to.to_string(),
        observed_at: at + 1,
        event: Event::Status(StatusEvent {
            document_id: document_id.to_string(),
            original_sender: original_sender.to_string(),
            from: from.to_string(),
            code,
            description: why.to_string(),
            at,
        }),
    }
}
