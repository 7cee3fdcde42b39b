//! The pure counting logic: events in, figures out. No I/O here.
//!
//! [`State`] is a fold over [`Event`]s. Every figure is a function of the
//! *set* of events seen, not of their order or multiplicity:
//!
//! * a delivery is the pair (DocumentId, recipient); it is *expected* once the
//!   document itself was seen (a status that comes first waits for it);
//! * times are kept as minima (the earliest arrival, the earliest
//!   acceptance...), flags only ever turn on, so a redelivered or replayed
//!   event changes nothing and out-of-order statuses give the same figures as
//!   in-order ones;
//! * counts are computed from the deliveries when asked, never incremented
//!   per event.
//!
//! So the storage layer's deduplication (one record per message id and
//! recipient) keeps the audit log clean, and the figures would be exact even
//! without it.
//!
//! Definitions (the ones in `docs/tracker-api.yaml`):
//!
//! * **arrived**: the recipient's system reported the document: a status 01,
//!   or any later status of the recipient (02–06, 15, 16), since a system
//!   that refused or accepted a document has it. The arrival time is the
//!   earliest such status time.
//! * **accepted** (03), **refused** (02, the reason of the earliest refusal
//!   is kept), **completed** (06): the recipient sent that status.
//! * **recalled** (13): the sender recalled the document; every delivery of
//!   it counts as recalled. 15/16 are the recipients' answers.
//! * **time to arrival / acceptance**: status time minus the time the sender
//!   sent the document (its first TraceHeader), in seconds, never negative
//!   (clocks of two agencies may disagree by a few seconds).
//! * periods, hours and days are those of the sending time, in Vietnam time
//!   (UTC+07:00), the time the wire format is written in.
//! * **overdue**: expected, not arrived, not recalled, and older than the
//!   threshold of its priority (stricter for priorities 1–4).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::rollup::{AgencyMetrics, Contribution, Rollups};

/// Seconds since the Unix epoch.
pub type Ts = i64;

/// Offset of Vietnam time from UTC, in seconds: hours and days are local.
pub const VN_OFFSET: i64 = 7 * 3600;

/// Status codes the tracker distinguishes (QCVN 102:2016).
pub mod code {
    /// 01 arrived.
    pub const ARRIVED: u8 = 1;
    /// 02 refused.
    pub const REFUSED: u8 = 2;
    /// 03 accepted.
    pub const ACCEPTED: u8 = 3;
    /// 04 assigned.
    pub const ASSIGNED: u8 = 4;
    /// 05 in progress.
    pub const IN_PROGRESS: u8 = 5;
    /// 06 completed.
    pub const COMPLETED: u8 = 6;
    /// 13 recall (from the sender).
    pub const RECALL: u8 = 13;
    /// 15 recall agreed.
    pub const RECALL_AGREED: u8 = 15;
    /// 16 recall refused.
    pub const RECALL_REFUSED: u8 = 16;
}

/// What the tracker learns from one message on the tap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// A document was sent.
    Document(DocumentEvent),
    /// A status about a document.
    Status(StatusEvent),
}

/// A document on the axis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentEvent {
    /// `DocumentId`.
    pub document_id: String,
    /// The sending agency.
    pub sender: String,
    /// Every recipient (one expected delivery each).
    pub recipients: Vec<String>,
    /// 0 normal … 4 express at a set time.
    pub priority: u8,
    /// When the sender sent it (first TraceHeader).
    pub sent_at: Ts,
}

/// A status message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusEvent {
    /// `ResponseFor/DocumentId`: the document it is about.
    pub document_id: String,
    /// `ResponseFor/OrganId`: the document's sender.
    pub original_sender: String,
    /// The agency that sent the status (a recipient, or the sender for 13).
    pub from: String,
    /// Status code (1–6, 13, 15, 16).
    pub code: u8,
    /// `Description` (the reason of a refusal).
    pub description: String,
    /// `Timestamp`.
    pub at: Ts,
}

impl Event {
    /// The document the event is about.
    pub fn document_id(&self) -> &str {
        match self {
            Event::Document(d) => &d.document_id,
            Event::Status(s) => &s.document_id,
        }
    }
}

/// Overdue thresholds in seconds, by priority 0..=4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thresholds(pub [i64; 5]);

impl Default for Thresholds {
    /// 01 is sent automatically by the receiving system, so it should come
    /// within minutes: 4 h for normal documents, 1 h urgent, 30 min very
    /// urgent, 15 min express (and express at a set time).
    fn default() -> Self {
        Thresholds([4 * 3600, 3600, 1800, 900, 900])
    }
}

impl Thresholds {
    /// The threshold for `priority` (values above 4 count as 4).
    pub fn for_priority(&self, priority: u8) -> i64 {
        self.0[usize::from(priority.min(4))]
    }
}

const NONE: u32 = u32::MAX;

/// "No such time" in the time fields of [`Doc`] and [`Dlv`] (an
/// `Option<i64>` takes 16 bytes, this 8, and the state keeps every
/// document of the whole history). No time on the wire comes near it (the
/// edXML formats carry years 0–9999); [`State::apply`] moves an event at
/// exactly `i64::MIN` one second later, the only input it changes.
const NO_TIME: Ts = Ts::MIN;

/// `t` as an option.
fn time(t: Ts) -> Option<Ts> {
    (t != NO_TIME).then_some(t)
}

/// The earlier of a kept time (perhaps none) and `b`.
fn min_time(a: Ts, b: Ts) -> Ts {
    if a == NO_TIME {
        b
    } else {
        a.min(b)
    }
}

/// One document. Its id is not here: it is the key of
/// [`State::doc_index`], stored once (only the few queries that print ids
/// of many documents, the overdue list and the search, look them up
/// there).
#[derive(Debug, Clone)]
struct Doc {
    sent_at: Ts,
    recalled_at: Ts,
    sender: u32,
    /// Its deliveries are `State::dlvs[first..first + len]`: kept side by
    /// side, so finding one is a scan of a document's few recipients and
    /// needs no index of its own.
    first: u32,
    len: u32,
    priority: u8,
    /// Whether the document itself was seen (not only statuses about it).
    seen: bool,
}

impl Doc {
    fn recalled_at(&self) -> Option<Ts> {
        time(self.recalled_at)
    }
    fn range(&self) -> std::ops::Range<usize> {
        self.first as usize..(self.first + self.len) as usize
    }
}

/// One (document, recipient) pair, as the queries read it (times in
/// full); it is kept as a [`Packed`].
#[derive(Debug, Clone, Copy)]
struct Dlv {
    arrived_at: Ts,
    accepted_at: Ts,
    refused_at: Ts,
    completed_at: Ts,
    recall_at: Ts,
    recipient: u32,
    /// The reason of the refusal at `refused_at` (interned).
    refusal_reason: u32,
    /// Bit i set when status code i (0..=16) was seen.
    codes: u32,
    arrival_code: u8,
    /// 15 or 16, the answer at `recall_at`.
    recall_code: u8,
    /// Listed as a recipient by the document (false while only statuses
    /// from this agency were seen).
    expected: bool,
}

impl Dlv {
    fn arrived_at(&self) -> Option<Ts> {
        time(self.arrived_at)
    }
    fn accepted_at(&self) -> Option<Ts> {
        time(self.accepted_at)
    }
    fn completed_at(&self) -> Option<Ts> {
        time(self.completed_at)
    }
    /// Time and reason of the earliest refusal.
    fn refused(&self) -> Option<(Ts, u32)> {
        time(self.refused_at).map(|t| (t, self.refusal_reason))
    }
    /// Time and code (15, 16) of the earliest answer to a recall.
    fn recall_answer(&self) -> Option<(Ts, u8)> {
        time(self.recall_at).map(|t| (t, self.recall_code))
    }
}

/// Seconds since the epoch of the times a [`Packed`] holds as `i32`
/// (2023-11-14): ±68 years around it, 1955–2091, take 4 bytes instead of 8.
const EPOCH: Ts = 1_700_000_000;

/// "No such time" in a [`Packed`].
const PACKED_NONE: i32 = i32::MIN;

/// Bits of [`Packed::bits`] above the status codes (bits 0..=16).
const ARRIVAL_CODE_SHIFT: u32 = 17;
const RECALL_REFUSED_BIT: u32 = 1 << 22;
const EXPECTED_BIT: u32 = 1 << 23;
const WIDE_BIT: u32 = 1 << 24;
const CODE_BITS: u32 = (1 << 17) - 1;

/// A [`Dlv`] as the state keeps it, one per delivery of the whole
/// history: 32 bytes instead of 56. Its times are seconds from [`EPOCH`];
/// a delivery with a time beyond the `i32` range (a clock decades off) is
/// *wide*: its times are kept in full in [`State::wide`], at the index
/// `times[0]`, so every figure stays exact whatever the input.
#[derive(Debug, Clone, Copy)]
struct Packed {
    /// Arrived, accepted, refused, completed, recall answered.
    times: [i32; 5],
    recipient: u32,
    refusal_reason: u32,
    /// Codes seen (bits 0..=16), the arrival code (5 bits from
    /// [`ARRIVAL_CODE_SHIFT`]), whether the recall answer is 16, whether
    /// expected, whether wide.
    bits: u32,
}

impl Packed {
    fn new(recipient: u32) -> Packed {
        Packed {
            times: [PACKED_NONE; 5],
            recipient,
            refusal_reason: NONE,
            bits: 0,
        }
    }
    fn expected(&self) -> bool {
        self.bits & EXPECTED_BIT != 0
    }
}

/// `t` as a [`Packed`] time, if it fits.
fn small_time(t: Ts) -> Option<i32> {
    if t == NO_TIME {
        return Some(PACKED_NONE);
    }
    i32::try_from(t - EPOCH).ok().filter(|&v| v != PACKED_NONE)
}

/// Makes room for `n` more elements in `v`, a history that only grows: by
/// an eighth, not by doubling as `push` and `reserve` would, so that at
/// most an eighth of it is allocated and unused instead of up to a half
/// (the copy this costs more often is cheap beside the events that fill
/// the room; large blocks are moved by remapping, not copied).
fn grow<T>(v: &mut Vec<T>, n: usize) {
    if v.capacity() - v.len() < n {
        v.reserve_exact(n.max(v.len() / 8).max(1024));
    }
}

/// `n` as an index into [`State::dlvs`] (u32: 4 bytes a document).
fn dlv_index(n: usize) -> u32 {
    u32::try_from(n).expect("fewer than 2^32 deliveries")
}

/// The time of a status, as kept ([`NO_TIME`] is taken).
fn at(s: &StatusEvent) -> Ts {
    s.at.max(NO_TIME + 1)
}

/// Interned strings (agency ids, refusal reasons).
#[derive(Debug, Default, Clone)]
struct Interner {
    names: Vec<String>,
    index: HashMap<String, u32>,
}

impl Interner {
    fn get_or_add(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(s.to_string());
        self.index.insert(s.to_string(), i);
        i
    }
    fn get(&self, s: &str) -> Option<u32> {
        self.index.get(s).copied()
    }
    fn name(&self, i: u32) -> &str {
        &self.names[i as usize]
    }
}

/// The tracker's figures: a fold over events (see the module docs).
#[derive(Debug, Default, Clone)]
pub struct State {
    agencies: Interner,
    reasons: Interner,
    docs: Vec<Doc>,
    /// DocumentId → index in `docs`; the only copy of the ids.
    doc_index: HashMap<Box<str>, u32>,
    /// Every document's deliveries, each document's side by side (see
    /// [`Doc::first`]).
    dlvs: Vec<Packed>,
    /// The times of the wide deliveries (see [`Packed`]); there are none
    /// unless clocks are decades off, and they stay here.
    wide: Vec<[Ts; 5]>,
    /// Slots of `dlvs` left behind when a document's deliveries moved to
    /// the end to take one more (see [`State::add_dlv`]).
    holes: usize,
    events: u64,
    ignored: u64,
    /// `/metrics` per agency, maintained by [`State::apply`].
    rollups: Rollups,
}

/// Which deliveries a query is about. All fields are optional and combine.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    /// Sent at or after (Unix seconds).
    pub from: Option<Ts>,
    /// Sent before (Unix seconds).
    pub to: Option<Ts>,
    /// The sending agency.
    pub sender: Option<String>,
    /// The receiving agency.
    pub recipient: Option<String>,
    /// Either side.
    pub agency: Option<String>,
}

/// Latency percentiles in seconds (nearest rank), `None` without samples.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Number of samples.
    pub count: u64,
    /// Median.
    pub p50: Option<i64>,
    /// 95th percentile.
    pub p95: Option<i64>,
    /// 99th percentile.
    pub p99: Option<i64>,
}

/// Delivery figures for a set of deliveries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// Distinct documents sent.
    pub documents: u64,
    /// Deliveries expected (document × recipient).
    pub expected: u64,
    /// Deliveries the recipient's system reported (01 or later).
    pub arrived: u64,
    /// Accepted (03).
    pub accepted: u64,
    /// Refused (02).
    pub refused: u64,
    /// Completed (06).
    pub completed: u64,
    /// Recalled by the sender (13).
    pub recalled: u64,
    /// Recall agreed by the recipient (15).
    pub recall_agreed: u64,
    /// Recall refused by the recipient (16).
    pub recall_refused: u64,
    /// Expected, not arrived, not recalled (overdue or not yet).
    pub pending: u64,
    /// arrived / expected (0 when nothing is expected).
    pub delivery_rate: f64,
    /// accepted / expected.
    pub acceptance_rate: f64,
    /// Time from sending to arrival.
    pub time_to_arrival: Latency,
    /// Time from sending to acceptance.
    pub time_to_acceptance: Latency,
    /// Refusal reasons with their counts, most frequent first.
    pub refusal_reasons: Vec<ReasonCount>,
}

/// One refusal reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReasonCount {
    /// The `Description` of the 02 status.
    pub reason: String,
    /// How many deliveries were refused with it.
    pub count: u64,
}

/// Figures of one agency, as sender and as recipient.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgencyFigures {
    /// OrganId.
    pub agency: String,
    /// Deliveries of the documents it sent.
    pub as_sender: Figures,
    /// Deliveries addressed to it.
    pub as_recipient: Figures,
}

/// Figures of one sender → recipient pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairFigures {
    /// Sending agency.
    pub sender: String,
    /// Receiving agency.
    pub recipient: String,
    /// The pair's deliveries.
    pub figures: Figures,
}

/// Time bucket size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    /// One hour.
    Hour,
    /// One day (Vietnam time).
    Day,
}

impl Granularity {
    /// Bucket length in seconds.
    pub fn seconds(self) -> i64 {
        match self {
            Granularity::Hour => 3600,
            Granularity::Day => 86400,
        }
    }
    /// Start of the bucket holding `t` (local hours and days).
    pub fn bucket(self, t: Ts) -> Ts {
        let s = self.seconds();
        (t + VN_OFFSET).div_euclid(s) * s - VN_OFFSET
    }
}

/// Figures of one time bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    /// Bucket start (Unix seconds).
    pub start: Ts,
    /// The bucket's deliveries.
    pub figures: Figures,
}

/// The dashboard's heat map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heatmap {
    /// The busiest agencies, busiest first (rows and columns).
    pub agencies: Vec<String>,
    /// Non-empty cells among them.
    pub cells: Vec<HeatCell>,
}

/// One sender × recipient cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeatCell {
    /// Row.
    pub sender: String,
    /// Column.
    pub recipient: String,
    /// Deliveries expected.
    pub expected: u64,
    /// Arrived.
    pub arrived: u64,
    /// arrived / expected.
    pub delivery_rate: f64,
}

/// One overdue delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overdue {
    /// `DocumentId`.
    pub document_id: String,
    /// Sending agency.
    pub sender: String,
    /// Receiving agency that has not reported arrival.
    pub recipient: String,
    /// Priority 0–4.
    pub priority: u8,
    /// When it was sent.
    pub sent_at: Ts,
    /// Seconds since sending.
    pub age: i64,
    /// The threshold that applies (seconds).
    pub threshold: i64,
}

/// One agency ranked by time to arrival.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlowAgency {
    /// The receiving agency.
    pub agency: String,
    /// Deliveries addressed to it.
    pub expected: u64,
    /// arrived / expected.
    pub delivery_rate: f64,
    /// Time to arrival of its deliveries.
    pub time_to_arrival: Latency,
}

/// What the tracker knows of one delivery of a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryView {
    /// Receiving agency.
    pub recipient: String,
    /// Listed by the document (false: only statuses seen so far).
    pub expected: bool,
    /// Arrival time.
    pub arrived_at: Option<Ts>,
    /// Acceptance time.
    pub accepted_at: Option<Ts>,
    /// Refusal time.
    pub refused_at: Option<Ts>,
    /// Refusal reason.
    pub refusal_reason: Option<String>,
    /// Completion time.
    pub completed_at: Option<Ts>,
    /// 15 or 16 and when.
    pub recall_answer: Option<(u8, Ts)>,
    /// Every status code seen, ascending.
    pub codes: Vec<u8>,
    /// Not arrived and past its threshold at the time of the query.
    pub overdue: bool,
}

/// What the tracker knows of one document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentView {
    /// `DocumentId`.
    pub document_id: String,
    /// Whether the document itself was seen.
    pub seen: bool,
    /// Sending agency.
    pub sender: Option<String>,
    /// Sending time.
    pub sent_at: Option<Ts>,
    /// Priority.
    pub priority: Option<u8>,
    /// Recall time.
    pub recalled_at: Option<Ts>,
    /// One per recipient.
    pub deliveries: Vec<DeliveryView>,
}

/// Counts that do not depend on a filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Events folded in.
    pub events: u64,
    /// Events that referred to nothing trackable (a status code from the
    /// wrong side, e.g. 03 sent by the sender).
    pub ignored: u64,
    /// Documents seen.
    pub documents: u64,
    /// Deliveries known (expected or not).
    pub deliveries: u64,
    /// Deliveries with statuses but whose document was not seen yet.
    pub orphan_deliveries: u64,
    /// Agencies seen.
    pub agencies: u64,
}

/// Running totals for a set of deliveries (its latency samples are kept
/// by the [`Tally`] it belongs to).
#[derive(Debug, Default, Clone)]
struct Acc {
    documents: u64,
    expected: u64,
    arrived: u64,
    accepted: u64,
    refused: u64,
    completed: u64,
    recalled: u64,
    recall_agreed: u64,
    recall_refused: u64,
    pending: u64,
    /// Refusal reasons and counts (a handful: a list, not a map).
    reasons: Vec<(u32, u64)>,
}

/// Running totals for many groups of deliveries at once (one per agency,
/// pair, time bucket...). The latency samples of every group go to two
/// shared buffers and are spread by group only at the end (a counting
/// sort): a query allocates a few large buffers, not two growing vectors
/// per group, which for the 16,000 pairs of a month was most of its time.
#[derive(Debug, Default)]
struct Tally {
    groups: Vec<Acc>,
    arrival: Vec<(u32, i64)>,
    acceptance: Vec<(u32, i64)>,
}

/// Spread `(group, sample)` pairs into one buffer ordered by group:
/// group `g`'s samples are `flat[start[g]..start[g + 1]]`.
fn spread(groups: usize, samples: Vec<(u32, i64)>) -> (Vec<usize>, Vec<i64>) {
    let mut start = vec![0usize; groups + 1];
    for &(g, _) in &samples {
        start[g as usize + 1] += 1;
    }
    for i in 0..groups {
        start[i + 1] += start[i];
    }
    let mut next = start.clone();
    let mut flat = vec![0; samples.len()];
    for (g, v) in samples {
        let at = &mut next[g as usize];
        flat[*at] = v;
        *at += 1;
    }
    (start, flat)
}

impl Tally {
    /// `n` empty groups.
    fn new(n: usize) -> Tally {
        Tally {
            groups: vec![Acc::default(); n],
            ..Tally::default()
        }
    }

    /// Add an empty group; its index.
    fn group(&mut self) -> u32 {
        self.groups.push(Acc::default());
        self.groups.len() as u32 - 1
    }

    /// Count delivery `d` of `doc` in group `g`.
    fn add(&mut self, g: u32, d: &Dlv, doc: &Doc) {
        if let Some(a) = d.arrived_at() {
            self.arrival.push((g, (a - doc.sent_at).max(0)));
        }
        if let Some(a) = d.accepted_at() {
            self.acceptance.push((g, (a - doc.sent_at).max(0)));
        }
        self.groups[g as usize].add(d, doc);
    }

    /// The figures of every group, in group order.
    fn finish(self, reasons: &Interner) -> Vec<Figures> {
        let all: Vec<usize> = (0..self.groups.len()).collect();
        self.finish_only(reasons, &all)
    }

    /// The figures of the groups `which`, in that order (the others'
    /// percentiles are not computed).
    fn finish_only(mut self, reasons: &Interner, which: &[usize]) -> Vec<Figures> {
        let n = self.groups.len();
        let (a_start, mut a_flat) = spread(n, std::mem::take(&mut self.arrival));
        let (c_start, mut c_flat) = spread(n, std::mem::take(&mut self.acceptance));
        which
            .iter()
            .map(|&g| {
                std::mem::take(&mut self.groups[g]).finish(
                    reasons,
                    &mut a_flat[a_start[g]..a_start[g + 1]],
                    &mut c_flat[c_start[g]..c_start[g + 1]],
                )
            })
            .collect()
    }
}

/// Nearest-rank percentiles of `samples` (reordered in place). Selection,
/// not a sort: linear time, which over a month of national traffic (a
/// million samples for the agencies table) is the difference between a
/// fast query and a slow one.
pub fn latency(samples: &mut [i64]) -> Latency {
    let n = samples.len();
    if n == 0 {
        return Latency::default();
    }
    // Index of the nearest-rank p-th percentile; rank(50) <= rank(95) <=
    // rank(99), so each selection only looks above the previous one.
    let rank = |p: usize| (n * p).div_ceil(100).max(1) - 1;
    let mut done = 0;
    let mut pick = |i: usize, samples: &mut [i64]| {
        if i >= done {
            samples[done..].select_nth_unstable(i - done);
            done = i + 1;
        }
        samples[i]
    };
    let p50 = pick(rank(50), samples);
    let p95 = pick(rank(95), samples);
    let p99 = pick(rank(99), samples);
    Latency {
        count: n as u64,
        p50: Some(p50),
        p95: Some(p95),
        p99: Some(p99),
    }
}

fn rate(n: u64, d: u64) -> f64 {
    if d == 0 {
        0.0
    } else {
        n as f64 / d as f64
    }
}

impl Acc {
    fn add(&mut self, d: &Dlv, doc: &Doc) {
        self.expected += 1;
        if d.arrived_at().is_some() {
            self.arrived += 1;
        }
        if d.accepted_at().is_some() {
            self.accepted += 1;
        }
        if let Some((_, r)) = d.refused() {
            self.refused += 1;
            match self.reasons.iter_mut().find(|(x, _)| *x == r) {
                Some((_, n)) => *n += 1,
                None => self.reasons.push((r, 1)),
            }
        }
        if d.completed_at().is_some() {
            self.completed += 1;
        }
        if doc.recalled_at().is_some() {
            self.recalled += 1;
        }
        match d.recall_answer() {
            Some((_, code::RECALL_AGREED)) => self.recall_agreed += 1,
            Some((_, code::RECALL_REFUSED)) => self.recall_refused += 1,
            _ => {}
        }
        if d.arrived_at().is_none() && doc.recalled_at().is_none() {
            self.pending += 1;
        }
    }

    fn finish(self, reasons: &Interner, arrival: &mut [i64], acceptance: &mut [i64]) -> Figures {
        let mut refusal_reasons: Vec<ReasonCount> = self
            .reasons
            .iter()
            .map(|&(r, count)| ReasonCount {
                reason: reasons.name(r).to_string(),
                count,
            })
            .collect();
        refusal_reasons.sort_by(|a, b| b.count.cmp(&a.count).then(a.reason.cmp(&b.reason)));
        Figures {
            documents: self.documents,
            expected: self.expected,
            arrived: self.arrived,
            accepted: self.accepted,
            refused: self.refused,
            completed: self.completed,
            recalled: self.recalled,
            recall_agreed: self.recall_agreed,
            recall_refused: self.recall_refused,
            pending: self.pending,
            delivery_rate: rate(self.arrived, self.expected),
            acceptance_rate: rate(self.accepted, self.expected),
            time_to_arrival: latency(arrival),
            time_to_acceptance: latency(acceptance),
            refusal_reasons,
        }
    }
}

/// A filter resolved to interned ids; `None` inside means "matches nothing".
struct Resolved {
    from: Ts,
    to: Ts,
    sender: Option<Option<u32>>,
    recipient: Option<Option<u32>>,
    agency: Option<Option<u32>>,
}

impl Resolved {
    fn doc_time(&self, doc: &Doc) -> bool {
        doc.seen && doc.sent_at >= self.from && doc.sent_at < self.to
    }
    /// Whether a delivery matches.
    fn dlv(&self, doc: &Doc, d: &Dlv) -> bool {
        if !d.expected || !self.doc_time(doc) {
            return false;
        }
        if let Some(s) = self.sender {
            if s != Some(doc.sender) {
                return false;
            }
        }
        if let Some(r) = self.recipient {
            if r != Some(d.recipient) {
                return false;
            }
        }
        if let Some(a) = self.agency {
            if a != Some(doc.sender) && a != Some(d.recipient) {
                return false;
            }
        }
        true
    }
    /// Whether a document counts in "documents sent" (`dlvs`: its
    /// deliveries).
    fn doc(&self, doc: &Doc, mut dlvs: impl Iterator<Item = Dlv>) -> bool {
        if !self.doc_time(doc) {
            return false;
        }
        if let Some(s) = self.sender {
            if s != Some(doc.sender) {
                return false;
            }
        }
        match (self.recipient, self.agency) {
            (None, None) => true,
            _ => dlvs.any(|d| self.dlv(doc, &d)),
        }
    }
}

impl State {
    /// An empty state.
    pub fn new() -> State {
        State::default()
    }

    fn doc_ix(&mut self, document_id: &str) -> u32 {
        if let Some(&i) = self.doc_index.get(document_id) {
            return i;
        }
        let i = self.docs.len() as u32;
        grow(&mut self.docs, 1);
        self.docs.push(Doc {
            sent_at: 0,
            recalled_at: NO_TIME,
            sender: NONE,
            first: 0,
            len: 0,
            priority: 0,
            seen: false,
        });
        self.doc_index.insert(document_id.into(), i);
        i
    }

    /// The deliveries of `doc`.
    fn dlvs_of(&self, doc: &Doc) -> impl Iterator<Item = Dlv> + '_ {
        self.dlvs[doc.range()].iter().map(|p| self.unpack(p))
    }

    /// Delivery `li`.
    fn dlv(&self, li: u32) -> Dlv {
        self.unpack(&self.dlvs[li as usize])
    }

    fn unpack(&self, p: &Packed) -> Dlv {
        let [arrived_at, accepted_at, refused_at, completed_at, recall_at] =
            if p.bits & WIDE_BIT != 0 {
                self.wide[p.times[0] as usize]
            } else {
                p.times.map(|v| {
                    if v == PACKED_NONE {
                        NO_TIME
                    } else {
                        EPOCH + Ts::from(v)
                    }
                })
            };
        Dlv {
            arrived_at,
            accepted_at,
            refused_at,
            completed_at,
            recall_at,
            recipient: p.recipient,
            refusal_reason: p.refusal_reason,
            codes: p.bits & CODE_BITS,
            arrival_code: ((p.bits >> ARRIVAL_CODE_SHIFT) & 0x1f) as u8,
            recall_code: match (recall_at, p.bits & RECALL_REFUSED_BIT != 0) {
                (NO_TIME, _) => 0,
                (_, true) => code::RECALL_REFUSED,
                (_, false) => code::RECALL_AGREED,
            },
            expected: p.expected(),
        }
    }

    /// Stores `d` as delivery `li` (wide if one of its times does not
    /// fit, and then for good: the slot in `wide` is reused).
    fn pack(&mut self, li: u32, d: &Dlv) {
        let full = [
            d.arrived_at,
            d.accepted_at,
            d.refused_at,
            d.completed_at,
            d.recall_at,
        ];
        let p = &mut self.dlvs[li as usize];
        p.recipient = d.recipient;
        p.refusal_reason = d.refusal_reason;
        p.bits = (p.bits & WIDE_BIT)
            | d.codes
            | u32::from(d.arrival_code) << ARRIVAL_CODE_SHIFT
            | if d.recall_code == code::RECALL_REFUSED {
                RECALL_REFUSED_BIT
            } else {
                0
            }
            | if d.expected { EXPECTED_BIT } else { 0 };
        let small = full.map(small_time);
        if p.bits & WIDE_BIT == 0 && small.iter().all(Option::is_some) {
            p.times = small.map(|v| v.unwrap_or(PACKED_NONE));
        } else if p.bits & WIDE_BIT != 0 {
            self.wide[p.times[0] as usize] = full;
        } else {
            p.bits |= WIDE_BIT;
            let at = i32::try_from(self.wide.len()).expect("fewer than 2^31 wide deliveries");
            p.times = [at, 0, 0, 0, 0];
            self.wide.push(full);
        }
    }

    /// The index in `dlvs` of `recipient`'s delivery of document `di`.
    fn find_dlv(&self, di: u32, recipient: u32) -> Option<u32> {
        let doc = &self.docs[di as usize];
        let at = self.dlvs[doc.range()]
            .iter()
            .position(|d| d.recipient == recipient)?;
        Some(doc.first + at as u32)
    }

    fn dlv_ix(&mut self, di: u32, recipient: u32) -> u32 {
        match self.find_dlv(di, recipient) {
            Some(i) => i,
            None => self.add_dlv(di, recipient),
        }
    }

    /// Adds `recipient`'s delivery to document `di`, after its others.
    /// A document's deliveries are usually all created at once, by the
    /// document event, at the end of `dlvs`. When one comes later (a
    /// status before its document, a recipient added by a re-send) and
    /// other documents' deliveries follow, the document's move to the end,
    /// leaving a hole; the holes are squeezed out once they are an eighth
    /// of the whole (each hole pays for its share of the copy).
    fn add_dlv(&mut self, di: u32, recipient: u32) -> u32 {
        let doc = &self.docs[di as usize];
        let range = doc.range();
        if !range.is_empty() && range.end != self.dlvs.len() {
            self.holes += range.len();
            self.docs[di as usize].first = dlv_index(self.dlvs.len());
            grow(&mut self.dlvs, range.len() + 1);
            self.dlvs.extend_from_within(range);
        }
        let i = dlv_index(self.dlvs.len());
        grow(&mut self.dlvs, 1);
        self.dlvs.push(Packed::new(recipient));
        let doc = &mut self.docs[di as usize];
        if doc.len == 0 {
            doc.first = i;
        }
        doc.len += 1;
        if self.holes > 64 && self.holes > self.dlvs.len() / 8 {
            self.squeeze();
            let doc = &self.docs[di as usize];
            return doc.first + doc.len - 1;
        }
        i
    }

    /// Removes the holes of `dlvs`, in place (a copy would double the
    /// largest block of the state for a moment, and the process's memory
    /// with it): the documents' deliveries slide down, in the order they
    /// lie in.
    fn squeeze(&mut self) {
        let mut order: Vec<u32> = (0..self.docs.len() as u32)
            .filter(|&di| self.docs[di as usize].len > 0)
            .collect();
        order.sort_unstable_by_key(|&di| self.docs[di as usize].first);
        let mut at = 0;
        for di in order {
            let doc = &mut self.docs[di as usize];
            let range = doc.range();
            doc.first = dlv_index(at);
            at += range.len();
            self.dlvs.copy_within(range, doc.first as usize);
        }
        self.dlvs.truncate(at);
        self.holes = 0;
    }

    /// Fold one event in. Idempotent and order-independent (module docs).
    pub fn apply(&mut self, event: &Event) {
        self.events += 1;
        match event {
            Event::Document(e) => {
                let sender = self.agencies.get_or_add(&e.sender);
                let di = self.doc_ix(&e.document_id);
                if !self.document_changes(di, e) {
                    // Another tap copy of a document already folded in.
                    return;
                }
                self.rollup_doc(di, -1);
                {
                    let doc = &mut self.docs[di as usize];
                    // The same DocumentId sent twice (a re-send with other
                    // bytes): keep the earliest sending.
                    if !doc.seen || e.sent_at < doc.sent_at {
                        doc.seen = true;
                        doc.sender = sender;
                        doc.sent_at = e.sent_at;
                        doc.priority = e.priority;
                    }
                }
                for r in &e.recipients {
                    let ri = self.agencies.get_or_add(r);
                    let li = self.dlv_ix(di, ri);
                    self.dlvs[li as usize].bits |= EXPECTED_BIT;
                }
                self.rollup_doc(di, 1);
            }
            Event::Status(s) => {
                let di = self.doc_ix(&s.document_id);
                let from = self.agencies.get_or_add(&s.from);
                let original = self.agencies.get_or_add(&s.original_sender);
                if s.code == code::RECALL {
                    if from != original {
                        self.ignored += 1;
                        return;
                    }
                    // Only the first recall changes what the rollups count.
                    let first = self.docs[di as usize].recalled_at().is_none();
                    if first {
                        self.rollup_doc(di, -1);
                    }
                    let doc = &mut self.docs[di as usize];
                    doc.recalled_at = min_time(doc.recalled_at, at(s));
                    if first {
                        self.rollup_doc(di, 1);
                    }
                    return;
                }
                if from == original || s.code > 16 || s.code == 0 {
                    self.ignored += 1;
                    return;
                }
                let li = self.dlv_ix(di, from);
                let reason = if s.code == code::REFUSED {
                    self.reasons.get_or_add(s.description.trim())
                } else {
                    NONE
                };
                self.rollup_dlv(di, li, -1);
                self.apply_status(li, s, reason);
                self.rollup_dlv(di, li, 1);
            }
        }
    }

    /// Whether a document event changes anything: the document not seen
    /// yet, sent earlier than known, or a recipient not yet expected.
    fn document_changes(&self, di: u32, e: &DocumentEvent) -> bool {
        let doc = &self.docs[di as usize];
        if !doc.seen || e.sent_at < doc.sent_at {
            return true;
        }
        e.recipients.iter().any(|r| {
            self.agencies
                .get(r)
                .and_then(|ri| self.find_dlv(di, ri))
                .is_none_or(|li| !self.dlvs[li as usize].expected())
        })
    }

    /// Fold a recipient's status into its delivery `li`.
    fn apply_status(&mut self, li: u32, s: &StatusEvent, reason: u32) {
        let at = at(s);
        let mut d = self.dlv(li);
        d.codes |= 1 << s.code;
        // Any status of the recipient proves arrival.
        if d.arrived_at == NO_TIME || at < d.arrived_at {
            d.arrived_at = at;
            d.arrival_code = s.code;
        } else if d.arrived_at == at {
            d.arrival_code = d.arrival_code.min(s.code);
        }
        match s.code {
            code::ACCEPTED => d.accepted_at = min_time(d.accepted_at, at),
            code::COMPLETED => d.completed_at = min_time(d.completed_at, at),
            code::REFUSED => {
                // Earliest refusal; ties broken by the reason text so
                // that the order of arrival does not matter.
                let better = match d.refused() {
                    None => true,
                    Some((t, r)) => (at, self.reasons.name(reason)) < (t, self.reasons.name(r)),
                };
                if better {
                    d.refused_at = at;
                    d.refusal_reason = reason;
                }
            }
            code::RECALL_AGREED | code::RECALL_REFUSED => {
                let cand = (at, s.code);
                if d.recall_answer().is_none_or(|old| cand < old) {
                    (d.recall_at, d.recall_code) = cand;
                }
            }
            _ => {}
        }
        self.pack(li, &d);
    }

    /// What delivery `d` of `doc` adds to the rollups: `None` unless it is
    /// expected and its document seen (the deliveries every figure counts).
    fn contribution(doc: &Doc, d: &Dlv) -> Option<Contribution> {
        (d.expected && doc.seen).then(|| Contribution {
            sender: doc.sender,
            recipient: d.recipient,
            time_to_arrival: d.arrived_at().map(|a| (a - doc.sent_at).max(0)),
            time_to_acceptance: d.accepted_at().map(|a| (a - doc.sent_at).max(0)),
            refused: d.refused().is_some(),
            completed: d.completed_at().is_some(),
            recalled: doc.recalled_at().is_some(),
        })
    }

    /// Add (`sign` 1) or take out (-1) delivery `li` of document `di` from
    /// the rollups.
    fn rollup_dlv(&mut self, di: u32, li: u32, sign: i64) {
        let doc = &self.docs[di as usize];
        if let Some(c) = Self::contribution(doc, &self.dlv(li)) {
            self.rollups.apply(&c, sign);
        }
    }

    /// The same for every delivery of document `di`.
    fn rollup_doc(&mut self, di: u32, sign: i64) {
        let doc = &self.docs[di as usize];
        if !doc.seen {
            return;
        }
        for li in doc.range() {
            if let Some(c) = Self::contribution(doc, &self.dlv(li as u32)) {
                self.rollups.apply(&c, sign);
            }
        }
    }

    /// The `/metrics` figures of every agency with deliveries, by name,
    /// as maintained incrementally.
    pub fn agency_metrics(&self) -> Vec<(&str, AgencyMetrics)> {
        self.collect_metrics(|i| self.rollups.get(i))
    }

    /// The same figures recounted from the deliveries: what
    /// [`State::agency_metrics`] must always equal (the tests check it).
    pub fn recount_agency_metrics(&self) -> Vec<(&str, AgencyMetrics)> {
        let mut fresh = Rollups::default();
        for doc in &self.docs {
            for d in self.dlvs_of(doc) {
                if let Some(c) = Self::contribution(doc, &d) {
                    fresh.apply(&c, 1);
                }
            }
        }
        self.collect_metrics(|i| fresh.get(i))
    }

    fn collect_metrics(&self, get: impl Fn(u32) -> AgencyMetrics) -> Vec<(&str, AgencyMetrics)> {
        let mut v: Vec<(&str, AgencyMetrics)> = (0..self.agencies.names.len() as u32)
            .map(|i| (self.agencies.name(i), get(i)))
            .filter(|(_, m)| m.sent + m.expected > 0)
            .collect();
        v.sort_unstable_by(|a, b| a.0.cmp(b.0));
        v
    }

    fn resolve(&self, f: &Filter) -> Resolved {
        let id = |s: &Option<String>| s.as_ref().map(|s| self.agencies.get(s));
        Resolved {
            from: f.from.unwrap_or(i64::MIN),
            to: f.to.unwrap_or(i64::MAX),
            sender: id(&f.sender),
            recipient: id(&f.recipient),
            agency: id(&f.agency),
        }
    }

    /// Counters that do not depend on a filter.
    pub fn counters(&self) -> Counters {
        Counters {
            events: self.events,
            ignored: self.ignored,
            documents: self.docs.iter().filter(|d| d.seen).count() as u64,
            deliveries: (self.dlvs.len() - self.holes) as u64,
            orphan_deliveries: self
                .docs
                .iter()
                .map(|doc| {
                    self.dlvs[doc.range()]
                        .iter()
                        .filter(|d| !d.expected() || !doc.seen)
                        .count() as u64
                })
                .sum(),
            agencies: self.agencies.names.len() as u64,
        }
    }

    /// Every agency seen, in first-seen order.
    pub fn agency_names(&self) -> &[String] {
        &self.agencies.names
    }

    /// Figures of every delivery matching `f`.
    pub fn figures(&self, f: &Filter) -> Figures {
        let r = self.resolve(f);
        let mut tally = Tally::new(1);
        for doc in &self.docs {
            if !r.doc(doc, self.dlvs_of(doc)) {
                continue;
            }
            tally.groups[0].documents += 1;
            for d in self.dlvs_of(doc) {
                if r.dlv(doc, &d) {
                    tally.add(0, &d, doc);
                }
            }
        }
        tally.finish(&self.reasons).pop().unwrap_or_default()
    }

    /// Figures of each agency (as sender and as recipient), busiest first.
    /// `f.sender`, `f.recipient` and `f.agency` restrict which agencies are
    /// listed; the period applies to both sides.
    pub fn agencies(&self, f: &Filter) -> Vec<AgencyFigures> {
        let r = self.resolve(&Filter {
            from: f.from,
            to: f.to,
            ..Filter::default()
        });
        // Group 2a: agency a as sender; 2a + 1: as recipient.
        let n = self.agencies.names.len();
        let mut tally = Tally::new(2 * n);
        for doc in &self.docs {
            if !r.doc_time(doc) {
                continue;
            }
            let s = 2 * doc.sender;
            tally.groups[s as usize].documents += 1;
            for d in self.dlvs_of(doc) {
                if d.expected {
                    tally.add(s, &d, doc);
                    // One delivery per (document, recipient): each is one
                    // more document received.
                    let r = 2 * d.recipient + 1;
                    tally.groups[r as usize].documents += 1;
                    tally.add(r, &d, doc);
                }
            }
        }
        let wanted: Option<Vec<&str>> = {
            let v: Vec<&str> = [&f.agency, &f.sender, &f.recipient]
                .into_iter()
                .flatten()
                .map(String::as_str)
                .collect();
            (!v.is_empty()).then_some(v)
        };
        let mut figures = tally.finish(&self.reasons).into_iter();
        let mut out: Vec<AgencyFigures> = (0..n as u32)
            .filter_map(|i| {
                let (s, r) = (figures.next()?, figures.next()?);
                let name = self.agencies.name(i);
                let keep = match &wanted {
                    Some(w) => w.contains(&name),
                    None => s.expected + r.expected > 0,
                };
                keep.then(|| AgencyFigures {
                    agency: name.to_string(),
                    as_sender: s,
                    as_recipient: r,
                })
            })
            .collect();
        out.sort_by(|a, b| {
            (b.as_sender.expected + b.as_recipient.expected)
                .cmp(&(a.as_sender.expected + a.as_recipient.expected))
                .then(a.agency.cmp(&b.agency))
        });
        out
    }

    /// Figures of each sender → recipient pair, busiest first.
    pub fn pairs(&self, f: &Filter) -> Vec<PairFigures> {
        self.top_pairs(f, usize::MAX)
    }

    /// The `limit` busiest pairs of [`State::pairs`], without computing
    /// the figures of the others (the API's default page).
    pub fn top_pairs(&self, f: &Filter, limit: usize) -> Vec<PairFigures> {
        let r = self.resolve(f);
        // A dense sender × recipient table of slots into `cells` (a few
        // hundred agencies: a small array, no hashing per delivery).
        let n = self.agencies.names.len();
        let mut slot = vec![u32::MAX; n * n];
        let mut keys: Vec<(u32, u32)> = Vec::new();
        let mut tally = Tally::default();
        for doc in &self.docs {
            if !r.doc_time(doc) {
                continue;
            }
            for d in self.dlvs_of(doc) {
                if r.dlv(doc, &d) {
                    let k = doc.sender as usize * n + d.recipient as usize;
                    if slot[k] == u32::MAX {
                        slot[k] = tally.group();
                        keys.push((doc.sender, d.recipient));
                    }
                    let g = slot[k];
                    tally.groups[g as usize].documents += 1;
                    tally.add(g, &d, doc);
                }
            }
        }
        // Busiest first, then by names: order the group numbers (cheap to
        // move), not the figures, by integer keys: the agencies ranked by
        // name once (names are unique, so the order is the same), not
        // tens of thousands of pairs compared by their names.
        let name = |a: u32| self.agencies.name(a);
        let mut by_name: Vec<u32> = (0..n as u32).collect();
        by_name.sort_unstable_by(|&a, &b| name(a).cmp(name(b)));
        let mut rank = vec![0u32; n];
        for (i, &a) in by_name.iter().enumerate() {
            rank[a as usize] = i as u32;
        }
        let key = |&g: &usize| {
            let (s, r) = keys[g];
            (
                std::cmp::Reverse(tally.groups[g].expected),
                rank[s as usize],
                rank[r as usize],
            )
        };
        let mut order: Vec<usize> = (0..keys.len()).collect();
        if limit < order.len() {
            // Keys are distinct: the `limit` first are the same set as
            // after a full sort.
            order.select_nth_unstable_by_key(limit, key);
            order.truncate(limit);
        }
        order.sort_unstable_by_key(key);
        let figures = tally.finish_only(&self.reasons, &order);
        order
            .into_iter()
            .zip(figures)
            .map(|(g, figures)| PairFigures {
                sender: name(keys[g].0).to_string(),
                recipient: name(keys[g].1).to_string(),
                figures,
            })
            .collect()
    }

    /// Figures per hour or day of sending, oldest first (empty buckets
    /// between the first and the last are included).
    pub fn series(&self, f: &Filter, g: Granularity) -> Vec<Bucket> {
        let r = self.resolve(f);
        let mut tally = Tally::default();
        let mut groups: std::collections::BTreeMap<Ts, u32> = Default::default();
        for doc in &self.docs {
            if !r.doc(doc, self.dlvs_of(doc)) {
                continue;
            }
            let b = *groups
                .entry(g.bucket(doc.sent_at))
                .or_insert_with(|| tally.group());
            tally.groups[b as usize].documents += 1;
            for d in self.dlvs_of(doc) {
                if r.dlv(doc, &d) {
                    tally.add(b, &d, doc);
                }
            }
        }
        let mut figures: Vec<Option<Figures>> =
            tally.finish(&self.reasons).into_iter().map(Some).collect();
        let mut buckets: std::collections::BTreeMap<Ts, Figures> = groups
            .into_iter()
            .map(|(t, b)| (t, figures[b as usize].take().unwrap_or_default()))
            .collect();
        let (Some(&first), Some(&last)) = (buckets.keys().next(), buckets.keys().next_back())
        else {
            return Vec::new();
        };
        // Bound the number of empty buckets filled in (a stray timestamp
        // years away must not make a huge answer).
        let fill = (last - first) / g.seconds() <= 10_000;
        let mut out = Vec::new();
        let mut t = first;
        while t <= last {
            match buckets.remove(&t) {
                Some(figures) => out.push(Bucket { start: t, figures }),
                None if fill => out.push(Bucket {
                    start: t,
                    figures: Figures::default(),
                }),
                None => {}
            }
            t = match (fill, buckets.keys().next()) {
                (true, _) => t + g.seconds(),
                (false, Some(&n)) => n,
                (false, None) => break,
            };
        }
        out
    }

    /// Deliveries past their threshold without arrival at `now`, the most
    /// overdue (relative to their threshold) first, at most `limit`.
    /// The second value is how many there are in all.
    pub fn overdue(
        &self,
        now: Ts,
        thresholds: &Thresholds,
        f: &Filter,
        limit: usize,
    ) -> (Vec<Overdue>, u64) {
        let r = self.resolve(f);
        // (lateness, document, delivery): ties in document order, then in
        // the order of the document's deliveries.
        let mut all: Vec<(i64, u32, u32)> = Vec::new();
        for (di, doc) in self.docs.iter().enumerate() {
            if !r.doc_time(doc) || doc.recalled_at().is_some() {
                continue;
            }
            let th = thresholds.for_priority(doc.priority);
            let age = now - doc.sent_at;
            if age <= th {
                continue;
            }
            for (li, d) in doc.range().zip(self.dlvs_of(doc)) {
                if d.arrived_at().is_none() && r.dlv(doc, &d) {
                    // Most overdue relative to its threshold first.
                    all.push(((age * 1000) / th.max(1), di as u32, li as u32));
                }
            }
        }
        let total = all.len() as u64;
        all.sort_unstable_by(|a, b| b.0.cmp(&a.0).then((a.1, a.2).cmp(&(b.1, b.2))));
        all.truncate(limit);
        let ids = self.ids_of(all.iter().map(|&(_, di, _)| di));
        let list = all
            .into_iter()
            .map(|(_, di, li)| {
                let d = self.dlv(li);
                let doc = &self.docs[di as usize];
                Overdue {
                    document_id: ids[&di].to_string(),
                    sender: self.agencies.name(doc.sender).to_string(),
                    recipient: self.agencies.name(d.recipient).to_string(),
                    priority: doc.priority,
                    sent_at: doc.sent_at,
                    age: now - doc.sent_at,
                    threshold: thresholds.for_priority(doc.priority),
                }
            })
            .collect();
        (list, total)
    }

    /// The DocumentIds of documents `which` (indices in `docs`): one pass
    /// over the index, the only place ids are kept.
    fn ids_of(&self, which: impl Iterator<Item = u32>) -> HashMap<u32, &str> {
        let mut ids: HashMap<u32, &str> = which.map(|di| (di, "")).collect();
        if ids.is_empty() {
            return ids;
        }
        for (id, di) in &self.doc_index {
            if let Some(slot) = ids.get_mut(di) {
                *slot = id;
            }
        }
        ids
    }

    /// Receiving agencies by time to arrival (p95, then p50), slowest
    /// first, among those with at least `min_deliveries` expected.
    pub fn slowest(&self, f: &Filter, min_deliveries: u64, limit: usize) -> Vec<SlowAgency> {
        let r = self.resolve(f);
        let n = self.agencies.names.len();
        let mut expected = vec![0u64; n];
        let mut arrived = vec![0u64; n];
        let mut lat: Vec<Vec<i64>> = vec![Vec::new(); n];
        for doc in &self.docs {
            if !r.doc_time(doc) {
                continue;
            }
            for d in self.dlvs_of(doc) {
                if r.dlv(doc, &d) {
                    let x = d.recipient as usize;
                    expected[x] += 1;
                    if let Some(a) = d.arrived_at() {
                        arrived[x] += 1;
                        lat[x].push((a - doc.sent_at).max(0));
                    }
                }
            }
        }
        let mut out: Vec<SlowAgency> = lat
            .into_iter()
            .enumerate()
            .filter(|(i, _)| expected[*i] >= min_deliveries.max(1))
            .map(|(i, mut v)| SlowAgency {
                agency: self.agencies.name(i as u32).to_string(),
                expected: expected[i],
                delivery_rate: rate(arrived[i], expected[i]),
                time_to_arrival: latency(&mut v),
            })
            .collect();
        let key = |s: &SlowAgency| {
            (
                s.time_to_arrival.p95.unwrap_or(i64::MAX),
                s.time_to_arrival.p50.unwrap_or(i64::MAX),
            )
        };
        out.sort_by(|a, b| key(b).cmp(&key(a)).then(a.agency.cmp(&b.agency)));
        out.truncate(limit);
        out
    }

    /// One document's deliveries, `None` when the id is unknown.
    pub fn document(
        &self,
        document_id: &str,
        now: Ts,
        thresholds: &Thresholds,
    ) -> Option<DocumentView> {
        let &di = self.doc_index.get(document_id)?;
        let doc = &self.docs[di as usize];
        let mut deliveries: Vec<DeliveryView> = self
            .dlvs_of(doc)
            .map(|d| DeliveryView {
                recipient: self.agencies.name(d.recipient).to_string(),
                expected: d.expected,
                arrived_at: d.arrived_at(),
                accepted_at: d.accepted_at(),
                refused_at: d.refused().map(|r| r.0),
                refusal_reason: d.refused().map(|r| self.reasons.name(r.1).to_string()),
                completed_at: d.completed_at(),
                recall_answer: d.recall_answer().map(|(t, c)| (c, t)),
                codes: (0..=16u8).filter(|c| d.codes & (1 << c) != 0).collect(),
                overdue: doc.seen
                    && d.expected
                    && d.arrived_at().is_none()
                    && doc.recalled_at().is_none()
                    && now - doc.sent_at > thresholds.for_priority(doc.priority),
            })
            .collect();
        deliveries.sort_by(|a, b| a.recipient.cmp(&b.recipient));
        Some(DocumentView {
            // The index matched it exactly: the same text.
            document_id: document_id.to_string(),
            seen: doc.seen,
            sender: (doc.sender != NONE).then(|| self.agencies.name(doc.sender).to_string()),
            sent_at: doc.seen.then_some(doc.sent_at),
            priority: doc.seen.then_some(doc.priority),
            recalled_at: doc.recalled_at(),
            deliveries,
        })
    }

    /// Document ids starting with `prefix` (at most `limit`, sorted), for
    /// the dashboard's search.
    pub fn search(&self, prefix: &str, limit: usize) -> Vec<String> {
        let mut v: Vec<String> = self
            .doc_index
            .keys()
            .filter(|k| k.starts_with(prefix) || k.contains(prefix))
            .take(limit.saturating_mul(20))
            .map(|k| k.to_string())
            .collect();
        v.sort();
        v.truncate(limit);
        v
    }

    /// Sender × recipient matrix of the `n` busiest agencies in the
    /// period: expected and arrived per cell (no latencies, so it stays
    /// cheap over a month of national traffic).
    pub fn heatmap(&self, f: &Filter, n: usize) -> Heatmap {
        let r = self.resolve(f);
        let na = self.agencies.names.len();
        let mut volume = vec![0u64; na];
        let mut cells: HashMap<(u32, u32), (u64, u64)> = HashMap::new();
        for doc in &self.docs {
            if !r.doc_time(doc) {
                continue;
            }
            for d in self.dlvs_of(doc) {
                if r.dlv(doc, &d) {
                    volume[doc.sender as usize] += 1;
                    volume[d.recipient as usize] += 1;
                    let c = cells.entry((doc.sender, d.recipient)).or_default();
                    c.0 += 1;
                    c.1 += u64::from(d.arrived_at().is_some());
                }
            }
        }
        let mut top: Vec<u32> = (0..na as u32).filter(|&i| volume[i as usize] > 0).collect();
        top.sort_by(|a, b| {
            volume[*b as usize]
                .cmp(&volume[*a as usize])
                .then_with(|| self.agencies.name(*a).cmp(self.agencies.name(*b)))
        });
        top.truncate(n);
        let mut out: Vec<HeatCell> = cells
            .into_iter()
            .filter(|((s, r), _)| top.contains(s) && top.contains(r))
            .map(|((s, r), (e, a))| HeatCell {
                sender: self.agencies.name(s).to_string(),
                recipient: self.agencies.name(r).to_string(),
                expected: e,
                arrived: a,
                delivery_rate: rate(a, e),
            })
            .collect();
        out.sort_by(|a, b| (&a.sender, &a.recipient).cmp(&(&b.sender, &b.recipient)));
        Heatmap {
            agencies: top
                .iter()
                .map(|&i| self.agencies.name(i).to_string())
                .collect(),
            cells: out,
        }
    }

    /// Visit every expected delivery of a seen document: (recipient,
    /// sender, time to arrival, time to acceptance, arrived, accepted,
    /// refused, completed, recalled). Used by the Prometheus exporter.
    pub fn for_each_delivery(&self, mut f: impl FnMut(DeliveryFacts<'_>)) {
        for doc in self.docs.iter().filter(|d| d.seen) {
            for d in self.dlvs_of(doc) {
                if !d.expected {
                    continue;
                }
                f(DeliveryFacts {
                    sender: self.agencies.name(doc.sender),
                    recipient: self.agencies.name(d.recipient),
                    time_to_arrival: d.arrived_at().map(|a| (a - doc.sent_at).max(0)),
                    time_to_acceptance: d.accepted_at().map(|a| (a - doc.sent_at).max(0)),
                    refused: d.refused().is_some(),
                    completed: d.completed_at().is_some(),
                    recalled: doc.recalled_at().is_some(),
                });
            }
        }
    }
}

/// One delivery as the exporter sees it.
#[derive(Debug, Clone, Copy)]
pub struct DeliveryFacts<'a> {
    /// Sending agency.
    pub sender: &'a str,
    /// Receiving agency.
    pub recipient: &'a str,
    /// Seconds to arrival, if arrived.
    pub time_to_arrival: Option<i64>,
    /// Seconds to acceptance, if accepted.
    pub time_to_acceptance: Option<i64>,
    /// Refused (02).
    pub refused: bool,
    /// Completed (06).
    pub completed: bool,
    /// Recalled (13).
    pub recalled: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(id: &str, from: &str, to: &[&str], prio: u8, at: Ts) -> Event {
        Event::Document(DocumentEvent {
            document_id: id.into(),
            sender: from.into(),
            recipients: to.iter().map(|s| s.to_string()).collect(),
            priority: prio,
            sent_at: at,
        })
    }
    fn st(id: &str, orig: &str, from: &str, code: u8, at: Ts, why: &str) -> Event {
        Event::Status(StatusEvent {
            document_id: id.into(),
            original_sender: orig.into(),
            from: from.into(),
            code,
            description: why.into(),
            at,
        })
    }

    fn history() -> Vec<Event> {
        vec![
            doc("D1", "A", &["B", "C"], 0, 1000),
            st("D1", "A", "B", 1, 1010, ""),
            st("D1", "A", "B", 3, 1100, ""),
            st("D1", "A", "C", 2, 1050, "sai địa chỉ"),
            doc("D2", "A", &["B"], 2, 2000),
            st("D2", "A", "A", 13, 2100, ""),
            st("D2", "A", "B", 15, 2200, ""),
            doc("D3", "B", &["A"], 0, 90_000),
        ]
    }

    #[test]
    fn figures_of_a_small_history() {
        let mut s = State::new();
        for e in history() {
            s.apply(&e);
        }
        let f = s.figures(&Filter::default());
        assert_eq!(
            (f.documents, f.expected, f.arrived, f.accepted),
            (3, 4, 3, 1)
        );
        assert_eq!(
            (f.refused, f.recalled, f.recall_agreed, f.pending),
            (1, 1, 1, 1)
        );
        assert_eq!(f.time_to_arrival.p50, Some(50));
        assert_eq!(f.time_to_arrival.p99, Some(200));
        assert_eq!(f.refusal_reasons[0].reason, "sai địa chỉ");
        let a = s.agencies(&Filter::default());
        let b = a.iter().find(|x| x.agency == "B").unwrap();
        assert_eq!((b.as_recipient.expected, b.as_sender.expected), (2, 1));
        let (od, n) = s.overdue(200_000, &Thresholds::default(), &Filter::default(), 10);
        assert_eq!(n, 1);
        assert_eq!(od[0].document_id, "D3");
    }

    #[test]
    fn order_and_duplicates_do_not_matter() {
        let h = history();
        let mut base = State::new();
        h.iter().for_each(|e| base.apply(e));
        let want = base.figures(&Filter::default());
        let mut rev = State::new();
        for e in h.iter().rev().chain(h.iter()) {
            rev.apply(e);
        }
        assert_eq!(rev.figures(&Filter::default()), want);
        assert_eq!(
            rev.pairs(&Filter::default()),
            base.pairs(&Filter::default())
        );
    }

    #[test]
    fn rollups_equal_a_recount_whatever_the_order() {
        let recs = crate::synth::traffic(7, 3000, crate::synth::JULY_2022, 3);
        let mut in_order = State::new();
        recs.iter().for_each(|r| in_order.apply(&r.event));
        let want = in_order.recount_agency_metrics();
        assert_eq!(in_order.agency_metrics(), want);
        // Shuffled, with every event twice, and a document re-sent with an
        // earlier time by another sender (moves its deliveries).
        let mut rng = crate::synth::Rng::new(1);
        let mut v: Vec<&Event> = recs.iter().chain(recs.iter()).map(|r| &r.event).collect();
        for i in (1..v.len()).rev() {
            v.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let mut shuffled = State::new();
        v.iter().for_each(|e| shuffled.apply(e));
        assert_eq!(shuffled.agency_metrics(), want);
        let Some(Event::Document(d)) = recs
            .iter()
            .map(|r| &r.event)
            .find(|e| matches!(e, Event::Document(_)))
        else {
            unreachable!("the traffic has documents")
        };
        let resent = Event::Document(DocumentEvent {
            sender: "000.00.00.G01".into(),
            sent_at: d.sent_at - 3600,
            ..d.clone()
        });
        shuffled.apply(&resent);
        assert_eq!(shuffled.agency_metrics(), shuffled.recount_agency_metrics());
        assert_ne!(
            shuffled.agency_metrics(),
            want,
            "the re-sending changed the figures"
        );
    }

    #[test]
    fn top_pairs_is_the_head_of_every_pair() {
        let mut s = State::new();
        for r in crate::synth::traffic(5, 2000, crate::synth::JULY_2022, 2) {
            s.apply(&r.event);
        }
        let all = s.pairs(&Filter::default());
        assert!(all.len() > 50);
        // Busiest first, then by sender and recipient names (compared as
        // text here, by rank in the query).
        let key = |p: &PairFigures| {
            (
                std::cmp::Reverse(p.figures.expected),
                p.sender.clone(),
                p.recipient.clone(),
            )
        };
        assert!(all.windows(2).all(|w| key(&w[0]) < key(&w[1])));
        assert!(
            all.windows(2)
                .any(|w| w[0].figures.expected == w[1].figures.expected),
            "ties on the count, ordered by the names"
        );
        assert_eq!(s.top_pairs(&Filter::default(), 50), all[..50].to_vec());
        assert_eq!(s.top_pairs(&Filter::default(), usize::MAX), all);
    }

    #[test]
    fn times_decades_away_are_kept_exactly() {
        // Beyond the ±68 years a packed delivery holds: such a delivery
        // keeps its times in full, including the ones it had before.
        let year = 365 * 86400;
        let t0 = crate::synth::JULY_2022;
        let mut s = State::new();
        for e in [
            doc("D1", "A", &["B", "C"], 0, t0),
            st("D1", "A", "B", 1, t0 + 60, ""),
            st("D1", "A", "B", 3, t0 + 100 * year, ""),
            st("D1", "A", "C", 2, t0 - 90 * year, "đồng hồ sai"),
            st("D1", "A", "C", 1, t0 - 90 * year - 5, ""),
        ] {
            s.apply(&e);
        }
        let v = s.document("D1", t0, &Thresholds::default()).unwrap();
        let (b, c) = (&v.deliveries[0], &v.deliveries[1]);
        assert_eq!(
            (b.arrived_at, b.accepted_at),
            (Some(t0 + 60), Some(t0 + 100 * year))
        );
        assert_eq!(b.codes, vec![1, 3]);
        assert_eq!(
            (c.arrived_at, c.refused_at, c.refusal_reason.as_deref()),
            (
                Some(t0 - 90 * year - 5),
                Some(t0 - 90 * year),
                Some("đồng hồ sai")
            )
        );
        let f = s.figures(&Filter::default());
        assert_eq!(f.time_to_acceptance.p50, Some(100 * year));
        assert_eq!((f.arrived, f.refused), (2, 1));
        assert_eq!(s.agency_metrics(), s.recount_agency_metrics());
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut v: Vec<i64> = (1..=100).collect();
        let l = latency(&mut v);
        assert_eq!((l.p50, l.p95, l.p99), (Some(50), Some(95), Some(99)));
        let mut one = vec![7];
        assert_eq!(latency(&mut one).p99, Some(7));
        // Selection gives what sorting gives, on any input.
        let mut rng = crate::synth::Rng::new(3);
        for n in [2usize, 3, 19, 20, 21, 101, 1000] {
            let mut v: Vec<i64> = (0..n).map(|_| rng.below(50) as i64).collect();
            let mut sorted = v.clone();
            sorted.sort_unstable();
            let at = |p: usize| Some(sorted[(n * p).div_ceil(100).max(1) - 1]);
            let l = latency(&mut v);
            assert_eq!((l.p50, l.p95, l.p99), (at(50), at(95), at(99)), "n = {n}");
        }
        assert_eq!(latency(&mut []).p50, None);
    }

    #[test]
    fn buckets_are_local_days() {
        // 2022-07-01 00:30 +07:00 is 2022-06-30 17:30 UTC.
        let t = 1_656_610_200;
        assert_eq!(Granularity::Day.bucket(t), 1_656_608_400);
        assert_eq!(Granularity::Hour.bucket(t), 1_656_608_400);
    }
}
