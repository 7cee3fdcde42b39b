//! What happens in the demo: who sends which seed article to whom, how
//! urgently, and what each receiving clerk then decides. The figures the
//! tracker must show are derived from this plan, not written down twice.

use docaxis_edxml::Priority;
use serde::Serialize;

/// The five seed articles, built into the binary so that the demo runs
/// from any directory (`--seeds DIR` reads others).
pub const SEEDS: &[(&str, &str)] = &[
    (
        "000_4709921e39f7032c.txt",
        include_str!("../../../../seeds/000_4709921e39f7032c.txt"),
    ),
    (
        "001_90b979b84ffa9e39.txt",
        include_str!("../../../../seeds/001_90b979b84ffa9e39.txt"),
    ),
    (
        "002_f09e5d419586afa8.txt",
        include_str!("../../../../seeds/002_f09e5d419586afa8.txt"),
    ),
    (
        "003_c3f26192a9f182c0.txt",
        include_str!("../../../../seeds/003_c3f26192a9f182c0.txt"),
    ),
    (
        "004_3ae846884eb565ac.txt",
        include_str!("../../../../seeds/004_3ae846884eb565ac.txt"),
    ),
];

/// What a receiving clerk decides about a document that arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// 03 (tiếp nhận).
    Accept,
    /// 03, then 06 (hoàn thành) once handled.
    Complete,
    /// 02 (từ chối) with this reason.
    Refuse(&'static str),
    /// Nothing: the sender recalls it (13) and the clerk agrees (15).
    AgreeToRecall,
}

/// One document of the demo.
#[derive(Debug, Clone, Copy)]
pub struct Send {
    /// Index into the seed articles.
    pub seed: usize,
    /// Index of the sender in [`super::world::AGENCIES`].
    pub from: usize,
    /// Recipients (indexes) and what each one's clerk decides.
    pub to: &'static [(usize, Decision)],
    /// Độ khẩn.
    pub priority: Priority,
    /// An attachment of this many bytes (a PDF-sized annex).
    pub attachment: Option<usize>,
}

impl Send {
    /// The sender recalls this document after it arrived.
    pub fn recalled(&self) -> bool {
        self.to.iter().any(|(_, d)| *d == Decision::AgreeToRecall)
    }
}

const NOT_COMPETENT: &str = "Không thuộc thẩm quyền giải quyết của Bộ Nội vụ (not within this ministry's competence): please send it to Bộ Tài chính";

/// The demo's plan. Indexes refer to [`super::world::AGENCIES`]: 0 VPCP
/// (G22), 1 Bộ Tài chính, 2 Bộ Nội vụ, 3 Bộ TT&TT, 4 Bộ Công an, 5 Tổng cục
/// Thuế, 6 Nghệ An, 7 Hà Nội, 8 TP HCM, 9 Đà Nẵng.
pub const PLAN: &[Send] = &[
    Send {
        seed: 0,
        from: 0,
        to: &[
            (1, Decision::Complete),
            (6, Decision::Accept),
            (7, Decision::Accept),
        ],
        priority: Priority::Normal,
        attachment: None,
    },
    Send {
        seed: 1,
        from: 3,
        to: &[(0, Decision::Accept), (2, Decision::Refuse(NOT_COMPETENT))],
        priority: Priority::Urgent,
        attachment: None,
    },
    Send {
        seed: 2,
        from: 1,
        to: &[
            (5, Decision::Complete),
            (8, Decision::Complete),
            (9, Decision::Complete),
        ],
        priority: Priority::Normal,
        attachment: None,
    },
    Send {
        seed: 3,
        from: 6,
        to: &[
            (0, Decision::Accept),
            (1, Decision::Accept),
            (3, Decision::Accept),
            (4, Decision::Accept),
        ],
        priority: Priority::VeryUrgent,
        attachment: Some(2 * 1024 * 1024),
    },
    Send {
        seed: 4,
        from: 0,
        to: &[
            (6, Decision::AgreeToRecall),
            (7, Decision::AgreeToRecall),
            (8, Decision::AgreeToRecall),
            (9, Decision::AgreeToRecall),
        ],
        priority: Priority::Express,
        attachment: None,
    },
];

/// The national figures the tracker must show at the end.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Expected {
    /// Documents sent.
    pub documents: u64,
    /// Deliveries (document × recipient).
    pub expected: u64,
    /// Arrived (01).
    pub arrived: u64,
    /// Accepted (03).
    pub accepted: u64,
    /// Refused (02).
    pub refused: u64,
    /// Completed (06).
    pub completed: u64,
    /// Recalled (13).
    pub recalled: u64,
    /// Recall agreed (15).
    pub recall_agreed: u64,
}

impl Expected {
    /// The same figures, as the tracker counted them.
    pub fn of(f: &docaxis_tracker::state::Figures) -> Expected {
        Expected {
            documents: f.documents,
            expected: f.expected,
            arrived: f.arrived,
            accepted: f.accepted,
            refused: f.refused,
            completed: f.completed,
            recalled: f.recalled,
            recall_agreed: f.recall_agreed,
        }
    }
}

/// The figures `plan` must produce.
pub fn expected(plan: &[Send]) -> Expected {
    let mut e = Expected {
        documents: plan.len() as u64,
        ..Expected::default()
    };
    for s in plan {
        for (_, d) in s.to {
            e.expected += 1;
            e.arrived += 1;
            match d {
                Decision::Accept => e.accepted += 1,
                Decision::Complete => {
                    e.accepted += 1;
                    e.completed += 1;
                }
                Decision::Refuse(_) => e.refused += 1,
                Decision::AgreeToRecall => {
                    e.recalled += 1;
                    e.recall_agreed += 1;
                }
            }
        }
    }
    e
}

/// Bytes that look like a PDF, of about `size` bytes.
pub fn pdf_like(size: usize) -> Vec<u8> {
    let mut v = b"%PDF-1.7\n".to_vec();
    let line = b"BT /F1 12 Tf 72 712 Td (Phu luc kem theo cong van) Tj ET\n";
    while v.len() + line.len() < size {
        v.extend_from_slice(line);
    }
    v.extend_from_slice(b"%%EOF\n");
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_covers_what_the_demo_promises() {
        let e = expected(PLAN);
        assert_eq!(e.documents, 5);
        assert_eq!(e.expected, 16);
        assert_eq!((e.accepted, e.refused, e.completed), (11, 1, 4));
        assert_eq!((e.recalled, e.recall_agreed), (4, 4));
        // Several recipients each, some urgent, one attachment, one recall.
        assert!(PLAN.iter().all(|s| s.to.len() >= 2));
        assert!(PLAN.iter().any(|s| s.priority != Priority::Normal));
        assert_eq!(PLAN.iter().filter(|s| s.attachment.is_some()).count(), 1);
        assert_eq!(PLAN.iter().filter(|s| s.recalled()).count(), 1);
        assert!(PLAN.iter().all(|s| s.seed < SEEDS.len()));
    }
}
