//! The light field extractor against the full edXML parser: the same event
//! on every message the full parser accepts (generated documents with the
//! seed articles as content and attachments, statuses of every code, the
//! example document), a clean refusal (never a panic) of hostile and
//! malformed input, and, over thousands of random corruptions of real
//! messages, never a different answer where the full parser accepts.

mod common;

use common::*;
use docaxis_axis::{Envelope, Kind};
use docaxis_dsig::Signer;
use docaxis_edxml::{organization, Code, Draft, EdDate, EdTimestamp, Message, OrganId, Priority};
use docaxis_tracker::decode::{decode, decode_full, DecodeError};
use docaxis_tracker::synth::Rng;
use ed25519_dalek::SigningKey;

fn seeds() -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../seeds");
    let mut v: Vec<String> = std::fs::read_dir(&dir)
        .expect("the seeds directory")
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    v.sort();
    assert!(!v.is_empty());
    v
}

/// A signed document with `content`, an attachment, `priority` and `to`.
fn seed_document(n: u32, content: &str, to: &[&str], priority: u8, sent: &str) -> Envelope {
    let org = |s: &str| organization(OrganId::parse(s).unwrap(), "Cơ quan");
    let mut d = Draft::new(
        org(A),
        to.iter().map(|t| org(t)).collect(),
        Code {
            code_number: n.to_string(),
            code_notation: "SEED".into(),
        },
        EdDate::parse(&sent[..10]).unwrap(),
        content.to_string(),
    );
    d.sent_at = EdTimestamp::parse(sent).unwrap();
    d.priority = Priority::parse(&priority.to_string()).unwrap();
    d.attach("phu-luc.pdf", content.as_bytes().repeat(3));
    let bytes = Signer::new(SigningKey::from_bytes(&[7; 32]), "key-id")
        .sign_message(&Message::Document(Box::new(d.build())))
        .unwrap();
    Envelope::document(
        A,
        to.iter().map(|s| s.to_string()).collect(),
        "key-id",
        bytes,
    )
    .unwrap()
}

/// Every kind of valid message the tests know.
fn corpus() -> Vec<Envelope> {
    let mut v = Vec::new();
    for (i, text) in seeds().iter().enumerate() {
        let to: &[&str] = if i % 2 == 0 { &[B, C] } else { &[D] };
        v.push(seed_document(
            i as u32 + 1,
            text,
            to,
            (i % 5) as u8,
            "2022/07/04 14:05:09",
        ));
    }
    for p in 0..5u8 {
        v.push(document(
            B,
            &[A, C, D],
            100 + u32::from(p),
            "2022/07/05 23:59:59",
            p,
        ));
    }
    for (k, code) in [1u8, 2, 3, 4, 5, 6, 13, 15, 16].into_iter().enumerate() {
        let why = match k % 3 {
            0 => "",
            1 => "Sai thẩm quyền & thiếu <chữ ký> \"số\"",
            _ => "  dòng một\r\n  dòng hai  ",
        };
        v.push(status(
            C,
            A,
            "2022/07/01",
            7,
            code,
            "2022/07/02 00:00:01",
            why,
            None,
        ));
    }
    let example = docaxis_edxml::example_document_xml();
    v.push(
        Envelope::document(A, vec![B.into(), C.into()], "key-id", example.into_bytes()).unwrap(),
    );
    v
}

#[test]
fn the_extractor_agrees_with_the_full_parser() {
    for env in corpus() {
        for to in env.recipients() {
            let full = decode_full(&env, to, 5).expect("the corpus is valid");
            let light = decode(&env, to, 5).expect("the extractor accepts it too");
            assert_eq!(light, full, "{}", String::from_utf8_lossy(env.payload()));
        }
    }
}

/// A valid status with its `StatusCode` element replaced by `element`
/// (`P:` stands for the edXML prefix the serializer uses).
fn status_with(element: &str) -> Vec<u8> {
    let env = status(C, A, "2022/07/01", 7, 1, "2022/07/02 00:00:01", "", None);
    let xml = String::from_utf8(env.payload().to_vec()).unwrap();
    let at = xml.find("StatusCode>").unwrap();
    let start = xml[..at].rfind('<').unwrap();
    let prefix = &xml[start + 1..at];
    let close = "StatusCode>";
    let end = at + close.len() + xml[at + close.len()..].find(close).unwrap() + close.len();
    format!(
        "{}{}{}",
        &xml[..start],
        element.replace("P:", prefix),
        &xml[end..]
    )
    .into_bytes()
}

fn envelope_of(kind: Kind, payload: Vec<u8>) -> Envelope {
    Envelope::new(kind, C, vec![A.into()], "key-id", payload).unwrap()
}

#[test]
fn hostile_and_malformed_input_is_refused_cleanly() {
    let good = status(C, A, "2022/07/01", 7, 1, "2022/07/02 00:00:01", "", None);
    let xml = String::from_utf8(good.payload().to_vec()).unwrap();
    let p = status_with;
    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("not XML", b"not edXML".to_vec()),
        ("not UTF-8", b"<a>\xff\xfe</a>".to_vec()),
        ("another root", b"<root xmlns='urn:x'/>".to_vec()),
        ("no namespace", b"<edXMLEnvelope><edXMLHeader/></edXMLEnvelope>".to_vec()),
        (
            "DTD with an entity bomb",
            b"<?xml version='1.0'?><!DOCTYPE a [<!ENTITY x 'xxxxxxxx'><!ENTITY y '&x;&x;&x;&x;'>]><a>&y;</a>".to_vec(),
        ),
        (
            "deep nesting",
            format!("{}{}", "<a>".repeat(100_000), "</a>".repeat(100_000)).into_bytes(),
        ),
        ("unknown entity in a field", p("<P:StatusCode>&bogus;</P:StatusCode>")),
        ("element inside a field", p("<P:StatusCode><P:x>01</P:x></P:StatusCode>")),
        ("field twice", p("<P:StatusCode>01</P:StatusCode><P:StatusCode>03</P:StatusCode>")),
        ("bad code", p("<P:StatusCode>99</P:StatusCode>")),
        ("empty code", p("<P:StatusCode/>")),
        (
            "foreign element among the fields",
            p("<P:StatusCode>01</P:StatusCode><x:Evil xmlns:x='urn:evil'/>"),
        ),
        ("undeclared prefix", p("<nope:StatusCode>01</nope:StatusCode>")),
        ("unbalanced", p("<P:StatusCode>01</P:Description>")),
    ];
    // Every truncation of a real message inside its header.
    let last_header_close = xml.rfind("edXMLHeader>").unwrap();
    for cut in (0..last_header_close).step_by(7) {
        cases.push(("truncated", xml.as_bytes()[..cut].to_vec()));
    }
    for (what, payload) in cases {
        let env = envelope_of(Kind::Status, payload);
        let light = decode(&env, A, 0);
        assert!(
            matches!(light, Err(DecodeError::Parse(_))),
            "{what}: the extractor should refuse it, got {light:?}"
        );
        assert!(
            decode_full(&env, A, 0).is_err(),
            "{what}: the full parser refuses it too"
        );
    }
    // The kind in the envelope must match the payload.
    let doc = document(A, &[B], 1, "2022/07/01 08:00:00", 0);
    let lying = Envelope::new(
        Kind::Status,
        A,
        vec![B.into()],
        "key-id",
        doc.payload().clone(),
    )
    .unwrap();
    assert!(matches!(
        decode(&lying, B, 0),
        Err(DecodeError::KindMismatch(_))
    ));
}

#[test]
fn random_corruptions_never_give_a_different_answer() {
    let corpus = corpus();
    let mut rng = Rng::new(2022);
    let (mut both, mut light_only, mut neither) = (0, 0, 0);
    for round in 0..3000 {
        let env = &corpus[round % corpus.len()];
        let mut bytes = env.payload().to_vec();
        // Corrupt where the fields are: the first half of the message.
        for _ in 0..1 + rng.below(3) {
            let i = rng.below(bytes.len() as u64 / 2) as usize;
            bytes[i] = match rng.below(4) {
                0 => b'<',
                1 => b'>',
                2 => b'&',
                _ => rng.below(256) as u8,
            };
        }
        let bad = Envelope::new(
            env.kind(),
            env.sender(),
            env.recipients().to_vec(),
            "key-id",
            bytes,
        )
        .unwrap();
        let to = &env.recipients()[0];
        match (decode_full(&bad, to, 0), decode(&bad, to, 0)) {
            (Ok(full), light) => {
                assert_eq!(
                    light.ok(),
                    Some(full),
                    "round {round}: the full parser accepts it"
                );
                both += 1;
            }
            (Err(_), Ok(_)) => light_only += 1,
            (Err(_), Err(_)) => neither += 1,
        }
    }
    // Most corruptions break the message for both; some hit the body or
    // the signature, which only the full parser reads.
    assert!(
        neither > 1000 && both > 0 && light_only > 0,
        "{both} {light_only} {neither}"
    );
}
