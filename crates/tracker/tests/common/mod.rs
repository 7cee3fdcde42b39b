//! Shared by the tests and the bench: signed edXML messages in envelopes,
//! and the known history whose every figure the exact-count tests check.
#![allow(dead_code)]

use docaxis_axis::{Envelope, Kind};
use docaxis_dsig::Signer;
use docaxis_edxml::{
    organization, Code, Draft, EdDate, EdTimestamp, Message, OrganId, Priority, ResponseFor,
    StatusCode, StatusMessage, TraceHeader, TraceHeaderList,
};
use docaxis_tracker::state::{Figures, Filter, Granularity, State, Thresholds};
use ed25519_dalek::SigningKey;

pub const A: &str = "000.00.00.G22"; // Văn phòng Chính phủ
pub const B: &str = "000.00.00.G12"; // Bộ Tài chính
pub const C: &str = "000.00.00.H41"; // UBND tỉnh Nghệ An
pub const D: &str = "000.00.00.G09"; // Bộ Nội vụ

fn signer() -> Signer {
    Signer::new(SigningKey::from_bytes(&[1; 32]), "key-id")
}

fn ts(s: &str) -> EdTimestamp {
    EdTimestamp::parse(s).expect("test timestamp")
}

fn id(s: &str) -> OrganId {
    OrganId::parse(s).expect("test organ id")
}

/// Unix time of a Vietnam local `yyyy/MM/dd HH:mm:ss`.
pub fn unix(s: &str) -> i64 {
    ts(s).to_offset().unix_timestamp()
}

/// `DocumentId` of document `n` of `from` promulgated on `date` (yyyy/MM/dd).
pub fn doc_id(from: &str, date: &str, n: u32) -> String {
    format!("{from},{date},{n}/TEST")
}

/// A signed document envelope.
pub fn document(from: &str, to: &[&str], n: u32, sent: &str, priority: u8) -> Envelope {
    let date = &sent[..10];
    let mut d = Draft::new(
        organization(id(from), "Cơ quan gửi"),
        to.iter()
            .map(|t| organization(id(t), "Cơ quan nhận"))
            .collect(),
        Code {
            code_number: n.to_string(),
            code_notation: "TEST".into(),
        },
        EdDate::parse(date).unwrap(),
        format!("Văn bản thử nghiệm số {n}. Nội dung."),
    );
    d.sent_at = ts(sent);
    d.priority = Priority::parse(&priority.to_string()).unwrap();
    let msg = Message::Document(Box::new(d.build()));
    let bytes = signer().sign_message(&msg).expect("sign");
    Envelope::document(
        from,
        to.iter().map(|s| s.to_string()).collect(),
        "key-id",
        bytes,
    )
    .unwrap()
}

/// A signed status envelope from `from` about document `n` of `orig`
/// (dated `date`), routed to `route` (default: the original sender).
#[allow(clippy::too_many_arguments)]
pub fn status(
    from: &str,
    orig: &str,
    date: &str,
    n: u32,
    code: u8,
    at: &str,
    why: &str,
    route: Option<&[&str]>,
) -> Envelope {
    let s = StatusMessage {
        from: organization(id(from), "Cơ quan"),
        response_for: ResponseFor {
            organ_id: id(orig),
            code: format!("{n}/TEST"),
            promulgation_date: EdDate::parse(date).unwrap(),
            document_id: doc_id(orig, date, n),
        },
        staff_info: None,
        status_code: StatusCode::parse(&format!("{code:02}")).unwrap(),
        description: why.into(),
        timestamp: ts(at),
        trace: TraceHeaderList {
            trace_headers: vec![TraceHeader {
                organ_id: id(from),
                timestamp: ts(at),
            }],
            business: None,
        },
        signature: None,
    };
    let bytes = signer()
        .sign_message(&Message::Status(Box::new(s)))
        .expect("sign");
    let to: Vec<String> = route
        .unwrap_or(&[orig])
        .iter()
        .map(|s| s.to_string())
        .collect();
    Envelope::new(Kind::Status, from, to, "key-id", bytes).unwrap()
}

const DAY1: &str = "2022/07/01";
const DAY2: &str = "2022/07/02";

/// The known history, in two phases (a tracker restart between them), in
/// the order the tap delivers it: statuses out of order, a status before
/// its document, a refusal without 01, a recall, a status from the wrong
/// side (ignored).
pub fn history() -> (Vec<Envelope>, Vec<Envelope>) {
    let phase1 = vec![
        document(A, &[B, C, D], 1, "2022/07/01 08:00:00", 0),
        status(C, A, DAY1, 1, 3, "2022/07/01 08:40:00", "", None), // 03 before 01
        status(B, A, DAY1, 1, 1, "2022/07/01 08:05:00", "", None),
        status(C, A, DAY1, 1, 1, "2022/07/01 08:10:00", "", None),
        status(
            D,
            A,
            DAY1,
            1,
            2,
            "2022/07/01 08:20:00",
            "Sai thẩm quyền",
            None,
        ),
        status(B, A, DAY1, 1, 3, "2022/07/01 09:00:00", "", None),
        status(A, A, DAY1, 1, 3, "2022/07/01 09:30:00", "", Some(&[B])), // wrong side: ignored
        document(A, &[B], 2, "2022/07/01 10:00:00", 2),
        status(B, A, DAY1, 2, 1, "2022/07/01 10:02:00", "", None),
    ];
    let phase2 = vec![
        status(
            A,
            A,
            DAY1,
            2,
            13,
            "2022/07/01 10:30:00",
            "Thu hồi để sửa",
            Some(&[B]),
        ),
        status(B, A, DAY1, 2, 15, "2022/07/01 10:35:00", "", None),
        status(B, A, DAY1, 1, 6, "2022/07/01 15:00:00", "", None),
        document(B, &[A, C], 3, "2022/07/01 11:00:00", 0),
        status(A, B, DAY1, 3, 1, "2022/07/01 11:01:00", "", None),
        status(A, B, DAY1, 3, 3, "2022/07/01 11:30:00", "", None),
        status(A, C, DAY1, 4, 1, "2022/07/01 12:03:00", "", None), // before its document
        document(C, &[A], 4, "2022/07/01 12:00:00", 1),
        status(
            A,
            C,
            DAY1,
            4,
            2,
            "2022/07/01 12:10:00",
            "Thiếu chữ ký",
            None,
        ),
        document(D, &[A, B], 5, "2022/07/02 09:00:00", 3),
        status(A, D, DAY2, 5, 1, "2022/07/02 09:05:00", "", None),
    ];
    (phase1, phase2)
}

/// Tap copies of `phase` (one per recipient of each envelope).
pub fn copies(phase: &[Envelope]) -> Vec<(Envelope, String)> {
    phase
        .iter()
        .flat_map(|e| e.recipients().iter().map(move |r| (e.clone(), r.clone())))
        .collect()
}

/// Records (unique tap copies) in the history: 11 in phase 1, 13 in phase 2.
pub const RECORDS: i64 = 24;

/// Check every figure of the known history.
pub fn check_history(s: &State) {
    let all = Filter::default();
    let f = s.figures(&all);
    let want = Figures {
        documents: 5,
        expected: 9,
        arrived: 7,
        accepted: 3,
        refused: 2,
        completed: 1,
        recalled: 1,
        recall_agreed: 1,
        recall_refused: 0,
        pending: 2,
        delivery_rate: 7.0 / 9.0,
        acceptance_rate: 3.0 / 9.0,
        time_to_arrival: docaxis_tracker::state::Latency {
            count: 7,
            p50: Some(300),
            p95: Some(1200),
            p99: Some(1200),
        },
        time_to_acceptance: docaxis_tracker::state::Latency {
            count: 3,
            p50: Some(2400),
            p95: Some(3600),
            p99: Some(3600),
        },
        refusal_reasons: vec![
            docaxis_tracker::state::ReasonCount {
                reason: "Sai thẩm quyền".into(),
                count: 1,
            },
            docaxis_tracker::state::ReasonCount {
                reason: "Thiếu chữ ký".into(),
                count: 1,
            },
        ],
    };
    assert_eq!(f, want);
    let c = s.counters();
    assert_eq!(c.events, RECORDS as u64, "events folded");
    assert_eq!(c.ignored, 1, "the 03 sent by the sender itself");
    assert_eq!(c.orphan_deliveries, 0);

    // The /metrics rollups, maintained event by event (whatever the order,
    // the redeliveries, the restarts), equal a recount from the deliveries.
    let metrics = s.agency_metrics();
    assert_eq!(metrics, s.recount_agency_metrics(), "rollups = recount");
    let b = metrics.iter().find(|(a, _)| *a == B).unwrap().1;
    assert_eq!(
        (
            b.sent,
            b.expected,
            b.arrived,
            b.accepted,
            b.refused,
            b.completed,
            b.recalled
        ),
        (2, 3, 2, 1, 0, 1, 1),
        "B's counters"
    );
    assert_eq!(
        (b.arrival.count, b.arrival.sum, b.arrival.buckets[1]),
        (2, 420, 2),
        "B's arrivals: 300 s and 120 s, both in the (60, 300] bucket"
    );
    assert_eq!(
        (b.acceptance.count, b.acceptance.buckets[4]),
        (1, 1),
        "3600 s"
    );
    let total: u64 = metrics.iter().map(|(_, m)| m.expected).sum();
    assert_eq!(total, 9, "every expected delivery counted once");

    // Per agency: (as recipient: expected, arrived, accepted, refused,
    // completed, recalled), (as sender: documents, expected, arrived).
    let agencies = s.agencies(&all);
    let get = |a: &str| agencies.iter().find(|x| x.agency == a).unwrap().clone();
    for (a, recv, sent) in [
        (A, (3, 3, 1, 1, 0, 0), (2, 4, 4)),
        (B, (3, 2, 1, 0, 1, 1), (1, 2, 1)),
        (C, (2, 1, 1, 0, 0, 0), (1, 1, 1)),
        (D, (1, 1, 0, 1, 0, 0), (1, 2, 1)),
    ] {
        let g = get(a);
        let r = &g.as_recipient;
        assert_eq!(
            (
                r.expected,
                r.arrived,
                r.accepted,
                r.refused,
                r.completed,
                r.recalled
            ),
            recv,
            "{a} as recipient"
        );
        let x = &g.as_sender;
        assert_eq!((x.documents, x.expected, x.arrived), sent, "{a} as sender");
    }
    assert_eq!(
        get(B).as_recipient.time_to_arrival.p50,
        Some(120),
        "B: 300 (D1), 120 (D2)"
    );

    // Per pair: (sender, recipient, expected, arrived).
    let pairs: Vec<(String, String, u64, u64)> = s
        .pairs(&all)
        .into_iter()
        .map(|p| (p.sender, p.recipient, p.figures.expected, p.figures.arrived))
        .collect();
    let mut want_pairs: Vec<(String, String, u64, u64)> = [
        (A, B, 2, 2),
        (A, C, 1, 1),
        (A, D, 1, 1),
        (B, A, 1, 1),
        (B, C, 1, 0),
        (C, A, 1, 1),
        (D, A, 1, 1),
        (D, B, 1, 0),
    ]
    .iter()
    .map(|&(a, b, e, r)| (a.into(), b.into(), e, r))
    .collect();
    let mut got = pairs.clone();
    got.sort();
    want_pairs.sort();
    assert_eq!(got, want_pairs);

    // Per day and per hour (Vietnam time).
    let days = s.series(&all, Granularity::Day);
    let d: Vec<(i64, u64, u64, u64)> = days
        .iter()
        .map(|b| {
            (
                b.start,
                b.figures.documents,
                b.figures.expected,
                b.figures.arrived,
            )
        })
        .collect();
    assert_eq!(
        d,
        vec![
            (unix("2022/07/01 00:00:00"), 4, 7, 6),
            (unix("2022/07/02 00:00:00"), 1, 2, 1)
        ]
    );
    let hours = s.series(&all, Granularity::Hour);
    assert_eq!(hours.len(), 26, "08:00 on the 1st to 09:00 on the 2nd");
    let h8 = &hours[0].figures;
    assert_eq!(
        (hours[0].start, h8.expected, h8.arrived, h8.accepted),
        (unix("2022/07/01 08:00:00"), 3, 3, 2)
    );
    assert_eq!(hours[1].figures.expected, 0, "09:00: empty bucket kept");

    // A period and a pair filter.
    let day2 = Filter {
        from: Some(unix("2022/07/02 00:00:00")),
        ..Filter::default()
    };
    assert_eq!(s.figures(&day2).expected, 2);
    let ab = Filter {
        sender: Some(A.into()),
        recipient: Some(B.into()),
        ..Filter::default()
    };
    let fab = s.figures(&ab);
    assert_eq!((fab.documents, fab.expected, fab.recalled), (2, 2, 1));

    // Overdue on 2022-07-02 at 12:00: D3→C (normal, 25 h > 4 h) and D5→B
    // (express, 3 h > 15 min); D2 was recalled, the rest arrived.
    let (od, total) = s.overdue(
        unix("2022/07/02 12:00:00"),
        &Thresholds::default(),
        &all,
        10,
    );
    assert_eq!(total, 2);
    let mut od: Vec<(String, String, u8)> = od
        .into_iter()
        .map(|o| (o.document_id, o.recipient, o.priority))
        .collect();
    od.sort();
    let mut want_od = vec![
        (doc_id(B, DAY1, 3), C.to_string(), 0),
        (doc_id(D, DAY2, 5), B.to_string(), 3),
    ];
    want_od.sort();
    assert_eq!(od, want_od);
    let (_, early) = s.overdue(
        unix("2022/07/02 09:10:00"),
        &Thresholds::default(),
        &all,
        10,
    );
    assert_eq!(early, 1, "09:10: only D3→C; D5→B is 10 min old");

    // One document's view.
    let v = s
        .document(
            &doc_id(A, DAY1, 1),
            unix("2022/07/02 12:00:00"),
            &Thresholds::default(),
        )
        .unwrap();
    assert_eq!(v.deliveries.len(), 3);
    let c_view = v.deliveries.iter().find(|x| x.recipient == C).unwrap();
    assert_eq!(c_view.arrived_at, Some(unix("2022/07/01 08:10:00")));
    assert_eq!(c_view.codes, vec![1, 3]);
    let d_view = v.deliveries.iter().find(|x| x.recipient == D).unwrap();
    assert_eq!(d_view.refusal_reason.as_deref(), Some("Sai thẩm quyền"));
}
