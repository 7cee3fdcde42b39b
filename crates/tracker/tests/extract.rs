//! The light field extractor against the full edXML parser: the same event
//! on every message the full parser accepts (generated documents with the
//! seed articles as content and attachments, statuses of every code, the
//! example document), a clean refusal (never a panic) of hostile and
//! malformed input, and, over thousands of random corruptions of real
//! messages, never a different answer where the full parser accepts.
//!
//! The extractor's two readers, the byte scanner and quick-xml, run on
//! every one of those inputs too: wherever the scanner answers, quick-xml
//! gives the same answer. Inputs made to fool a byte scanner (tag names in
//! comments, CDATA and attribute values, other prefixes, nested elements
//! of the same name, a cut right after the last field read) check that it
//! reads what an XML parser reads.

mod common;

use common::*;
use docaxis_axis::{Envelope, Kind};
use docaxis_dsig::Signer;
use docaxis_edxml::{organization, Code, Draft, EdDate, EdTimestamp, Message, OrganId, Priority};
use docaxis_tracker::decode::{decode, decode_full, DecodeError};
use docaxis_tracker::extract::{extract, extract_fast, extract_quick_xml, Extracted};
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

/// The byte scanner's answer on `payload`, after checking that quick-xml
/// gives the same whenever the scanner answers.
fn readers_agree(payload: &[u8]) -> Option<Extracted> {
    let fast = extract_fast(payload);
    if let Some(fields) = &fast {
        assert_eq!(
            extract_quick_xml(payload).as_ref(),
            Ok(fields),
            "the scanner and quick-xml differ on {}",
            String::from_utf8_lossy(payload)
        );
    }
    fast
}

#[test]
fn the_extractor_agrees_with_the_full_parser() {
    for env in corpus() {
        assert!(
            readers_agree(env.payload()).is_some(),
            "the scanner reads every valid message itself: {}",
            String::from_utf8_lossy(env.payload())
        );
        for to in env.recipients() {
            let full = decode_full(&env, to, 5).expect("the corpus is valid");
            let light = decode(&env, to, 5).expect("the extractor accepts it too");
            assert_eq!(light, full, "{}", String::from_utf8_lossy(env.payload()));
        }
    }
}

#[test]
fn reading_stops_after_the_last_field_only_when_the_message_is_whole() {
    let mut signed = 0;
    for env in corpus() {
        let xml = String::from_utf8(env.payload().to_vec()).unwrap();
        if !xml.contains("<SignatureValue>") {
            continue;
        }
        signed += 1;
        let fields = extract(env.payload()).unwrap();
        // The signature comes after the last field: not read.
        let spoiled = xml.replacen("<SignatureValue>", "<SignatureValue>&bogus;", 1);
        assert_eq!(readers_agree(spoiled.as_bytes()), Some(fields.clone()));
        assert_eq!(extract(spoiled.as_bytes()), Ok(fields.clone()));
        // Not ending with the root's end tag: read to </edXMLHeader>.
        assert_eq!(
            extract(format!("{xml}<!-- a note -->").as_bytes()),
            Ok(fields)
        );
        assert!(extract(format!("{spoiled}<!-- a note -->").as_bytes()).is_err());
    }
    assert!(signed > 10);
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
    // Every truncation of a real message inside its header (reading
    // stops before the signature only when the message ends with its
    // root's end tag), and the cuts right after the last field read.
    let last_header_close = xml.rfind("edXMLHeader>").unwrap();
    for cut in (0..last_header_close).step_by(7) {
        cases.push(("truncated", xml.as_bytes()[..cut].to_vec()));
    }
    for after in ["</edXML:MessageHeader>", "</edXML:TraceHeader>"] {
        let cut = xml.find(after).unwrap() + after.len();
        cases.push((
            "truncated after the last field",
            xml.as_bytes()[..cut].to_vec(),
        ));
    }
    let cut_doc = document(A, &[B], 1, "2022/07/01 08:00:00", 0);
    let doc_xml = String::from_utf8(cut_doc.payload().to_vec()).unwrap();
    for cut in (0..doc_xml.rfind("edXMLHeader>").unwrap()).step_by(11) {
        cases.push(("document truncated", doc_xml.as_bytes()[..cut].to_vec()));
    }
    for (what, payload) in cases {
        assert_eq!(
            readers_agree(&payload),
            None,
            "{what}: the scanner gives up on what is refused"
        );
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
        readers_agree(bad.payload());
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

/// What a crafted input must give.
enum Want {
    /// These fields, read by the byte scanner itself.
    Scanner(Extracted),
    /// These fields (the scanner may leave it to quick-xml).
    Fields(Extracted),
    /// A refusal, by the full parser too.
    Refused,
    /// These fields, by quick-xml, although the full parser refuses the
    /// message: what is wrong is in what the tracker does not read.
    NotRead(Extracted),
}

/// `xml` with `from` replaced by `to` (which must occur).
fn edit(xml: &str, from: &str, to: &str) -> String {
    assert!(xml.contains(from), "{from:?} is not in the message");
    xml.replacen(from, to, 1)
}

#[test]
fn inputs_made_to_fool_a_byte_scanner_are_read_as_xml() {
    let status_env = status(C, A, "2022/07/01", 7, 1, "2022/07/02 00:00:01", "", None);
    let st = String::from_utf8(status_env.payload().to_vec()).unwrap();
    let doc_env = document(A, &[B, C], 9, "2022/07/03 10:20:30", 2);
    let doc = String::from_utf8(doc_env.payload().to_vec()).unwrap();
    let status_fields = |code: u8, description: &str| Extracted::Status {
        from: C.into(),
        document_id: doc_id(A, "2022/07/01", 7),
        original_sender: A.into(),
        code,
        description: description.into(),
        at: unix("2022/07/02 00:00:01"),
    };
    let doc_fields = |priority: u8| Extracted::Document {
        from: A.into(),
        document_id: doc_id(A, "2022/07/03", 9),
        priority,
        sent_at: unix("2022/07/03 10:20:30"),
    };
    let ns = docaxis_edxml::EDXML_NS;
    let scanner = |code| Want::Scanner(status_fields(code, ""));
    let cases: Vec<(&str, String, Want)> = vec![
        ("the status as signed", st.clone(), scanner(1)),
        (
            "a field's tag in a comment",
            edit(
                &st,
                "<edXML:StatusCode>",
                "<!-- <edXML:StatusCode>99</edXML:StatusCode> --><edXML:StatusCode>",
            ),
            scanner(1),
        ),
        (
            "the header's end in a comment",
            edit(
                &st,
                "<edXML:MessageHeader>",
                "<edXML:MessageHeader><!--</edXML:MessageHeader></edXML:edXMLHeader>-->",
            ),
            scanner(1),
        ),
        (
            "a comment splitting a field's text",
            edit(&st, ">01<", ">0<!-- 9 -->1<"),
            scanner(1),
        ),
        (
            "tags in CDATA inside a field",
            edit(
                &st,
                "<edXML:Description></edXML:Description>",
                "<edXML:Description><![CDATA[</edXML:Description><edXML:StatusCode>99]]></edXML:Description>",
            ),
            Want::Scanner(status_fields(
                1,
                "</edXML:Description><edXML:StatusCode>99",
            )),
        ),
        (
            "CDATA and references making up a field",
            edit(
                &st,
                "<edXML:Description></edXML:Description>",
                "<edXML:Description>a &amp; b<![CDATA[ <c> ]]>&#x3C;d&#62;&quot;\r\n&apos;</edXML:Description>",
            ),
            Want::Scanner(status_fields(1, "a & b <c> <d>\"\n'")),
        ),
        (
            "tags in CDATA inside a skipped element",
            edit(
                &st,
                "<edXML:OrganizationInCharge>",
                "<edXML:OrganizationInCharge><![CDATA[</edXML:From></edXML:MessageHeader><edXML:StatusCode>99</edXML:StatusCode>]]>",
            ),
            scanner(1),
        ),
        (
            "end tags and quotes in attribute values",
            edit(
                &st,
                "<edXML:MessageHeader>",
                "<edXML:MessageHeader note=\"/edXML:MessageHeader> '>'\" other='\"/edXML:edXMLHeader>\"'>",
            ),
            scanner(1),
        ),
        (
            "another prefix for the edXML namespace",
            st.replace("edXML:", "e:").replace("xmlns:edXML=", "xmlns:e="),
            scanner(1),
        ),
        (
            "the edXML namespace as the default namespace",
            st.replace("edXML:", "").replace("xmlns:edXML=", "xmlns="),
            scanner(1),
        ),
        (
            "a second prefix for the edXML namespace on one field",
            edit(
                &st,
                "<edXML:StatusCode>01</edXML:StatusCode>",
                &format!("<x:StatusCode xmlns:x=\"{ns}\">01</x:StatusCode>"),
            ),
            scanner(1),
        ),
        (
            "a default namespace declared on a prefixed field",
            edit(
                &st,
                "<edXML:StatusCode>",
                "<edXML:StatusCode xmlns=\"urn:other\">",
            ),
            scanner(1),
        ),
        (
            "the edXML prefix bound to another namespace on a field",
            edit(
                &st,
                "<edXML:StatusCode>",
                "<edXML:StatusCode xmlns:edXML=\"urn:other\">",
            ),
            Want::Refused,
        ),
        (
            "a field in no namespace",
            edit(
                &st,
                "<edXML:StatusCode>01</edXML:StatusCode>",
                "<StatusCode>01</StatusCode>",
            ),
            Want::Refused,
        ),
        (
            "a field's name, in a skipped element of another name",
            edit(
                &st,
                "<edXML:StatusCode>",
                "<edXML:Note><edXML:StatusCode>99</edXML:StatusCode></edXML:Note><edXML:StatusCode>",
            ),
            Want::Fields(status_fields(1, "")),
        ),
        (
            "an element inside a field",
            edit(&st, ">01<", "><edXML:StatusCode>01</edXML:StatusCode><"),
            Want::Refused,
        ),
        (
            "a field given twice",
            edit(
                &st,
                "<edXML:StatusCode>",
                "<edXML:StatusCode>03</edXML:StatusCode><edXML:StatusCode>",
            ),
            Want::Refused,
        ),
        (
            "a field as an empty-element tag",
            edit(
                &st,
                "<edXML:Description></edXML:Description>",
                "<edXML:Description/>",
            ),
            scanner(1),
        ),
        (
            "white space in an end tag",
            edit(&st, "01</edXML:StatusCode>", "01</edXML:StatusCode  >"),
            Want::Fields(status_fields(1, "")),
        ),
        (
            "a comment after the root element",
            format!("{st}<!-- a note -->\n"),
            scanner(1),
        ),
        (
            "a comment with -- in it",
            edit(&st, "<edXML:StatusCode>", "<!-- a -- b --><edXML:StatusCode>"),
            Want::Refused,
        ),
        (
            "a comment ending in --->",
            edit(&st, "<edXML:StatusCode>", "<!-- a ---><edXML:StatusCode>"),
            Want::Refused,
        ),
        (
            "a DOCTYPE",
            edit(
                &st,
                "<edXML:edXML ",
                "<!DOCTYPE edXML:edXML [<!ENTITY x \"99\">]><edXML:edXML ",
            ),
            Want::Refused,
        ),
        (
            "an undeclared prefix",
            edit(
                &st,
                "<edXML:StatusCode>01</edXML:StatusCode>",
                "<no:StatusCode>01</no:StatusCode>",
            ),
            Want::Refused,
        ),
        (
            "an unknown entity in a skipped element",
            edit(
                &st,
                "<edXML:OrganizationInCharge>",
                "<edXML:OrganizationInCharge>&bomb;",
            ),
            Want::Refused,
        ),
        (
            "a lone & in a field",
            edit(&st, ">01<", ">01 & <"),
            Want::Refused,
        ),
        (
            "an attribute value with <",
            edit(
                &st,
                "<edXML:MessageHeader>",
                "<edXML:MessageHeader note=\"<edXML:StatusCode>\">",
            ),
            Want::NotRead(status_fields(1, "")),
        ),
        (
            "mismatched end tag",
            edit(&st, "01</edXML:StatusCode>", "01</e:StatusCode>"),
            Want::Refused,
        ),
        ("the document as signed", doc.clone(), Want::Scanner(doc_fields(2))),
        (
            "a Priority nested in a skipped child of OtherInfo",
            edit(
                &doc,
                "<edXML:OtherInfo>",
                "<edXML:OtherInfo><edXML:Note><edXML:Priority>4</edXML:Priority></edXML:Note>",
            ),
            Want::Fields(doc_fields(2)),
        ),
        (
            "a DocumentId nested in From",
            edit(
                &doc,
                "<edXML:Email>",
                "<edXML:Note><edXML:DocumentId>fake</edXML:DocumentId></edXML:Note><edXML:Email>",
            ),
            Want::Fields(doc_fields(2)),
        ),
        (
            "a second TraceHeader after the first (not read: reading has stopped)",
            edit(
                &doc,
                "</edXML:TraceHeaderList>",
                "<edXML:TraceHeader><edXML:OrganId>000.00.00.G12</edXML:OrganId><edXML:Timestamp>2022/07/04 00:00:00</edXML:Timestamp></edXML:TraceHeader></edXML:TraceHeaderList>",
            ),
            Want::Scanner(doc_fields(2)),
        ),
        (
            "the trace list before the message header",
            {
                let (a, b) = (doc.find("<edXML:MessageHeader>").unwrap(), doc.find("<edXML:TraceHeaderList>").unwrap());
                let c = doc.find("</edXML:TraceHeaderList>").unwrap() + "</edXML:TraceHeaderList>".len();
                format!("{}{}{}{}", &doc[..a], &doc[b..c], &doc[a..b], &doc[c..])
            },
            Want::Scanner(doc_fields(2)),
        ),
        (
            "a byte-order mark",
            format!("\u{feff}{doc}"),
            Want::Fields(doc_fields(2)),
        ),
    ];
    for (what, xml, want) in cases {
        let kind = match &want {
            Want::Scanner(Extracted::Document { .. })
            | Want::Fields(Extracted::Document { .. }) => Kind::Document,
            _ => Kind::Status,
        };
        let fast = readers_agree(xml.as_bytes());
        let light = extract(xml.as_bytes());
        let env =
            Envelope::new(kind, C, vec![A.into()], "key-id", xml.clone().into_bytes()).unwrap();
        let full = decode_full(&env, A, 0);
        match want {
            Want::Scanner(fields) => {
                assert_eq!(fast.as_ref(), Some(&fields), "{what}: read by the scanner");
                assert_eq!(light, Ok(fields), "{what}");
            }
            Want::Fields(fields) => assert_eq!(light, Ok(fields), "{what}"),
            Want::Refused => {
                assert!(
                    light.is_err() && fast.is_none(),
                    "{what}: refused, got {light:?}"
                );
                assert!(full.is_err(), "{what}: the full parser refuses it too");
                continue;
            }
            Want::NotRead(fields) => {
                assert_eq!((fast, light), (None, Ok(fields)), "{what}");
                assert!(full.is_err(), "{what}: the full parser refuses it");
                continue;
            }
        }
        let full = full.unwrap_or_else(|e| panic!("{what}: the full parser accepts it: {e}"));
        assert_eq!(
            decode(&env, A, 0).unwrap(),
            full,
            "{what}: the full parser reads the same"
        );
    }
}

/// Pieces of markup the mutations insert.
const SNIPPETS: [&[u8]; 16] = [
    b"<!--",
    b"-->",
    b"<![CDATA[",
    b"]]>",
    b"</",
    b"/>",
    b" xmlns:x=\"urn:x\"",
    b" xmlns=\"urn:x\"",
    b" xmlns:edXML=\"http://www.mic.gov.vn/TBT/QCVN_102_2016\"",
    b"<x:a xmlns:x=\"http://www.mic.gov.vn/TBT/QCVN_102_2016\">",
    b" a='>'",
    b"&amp;",
    b"&#13;",
    b"<?pi?>",
    b"<edXML:TraceHeader>",
    b"</edXML:MessageHeader>",
];

/// Mutations of real messages where the scanner works (tags, names,
/// quotes, comments...): wherever the scanner answers, quick-xml answers
/// the same, and where the full parser accepts, the same again.
#[test]
fn the_scanner_and_quick_xml_agree_on_mutated_messages() {
    let corpus = corpus();
    let mut rng = Rng::new(102);
    let alphabet = b"<>/!?-:=\"' \r\n&;#[]xe";
    let (mut answered, mut gave_up) = (0, 0);
    for round in 0..8000 {
        let env = &corpus[round % corpus.len()];
        let mut bytes = env.payload().to_vec();
        // Only the part read: up to the end of the first TraceHeader.
        let end = bytes
            .windows(12)
            .position(|w| w == b"TraceHeader>")
            .unwrap()
            + 400;
        for _ in 0..1 + rng.below(2) {
            let i = rng.below(end as u64) as usize;
            let b = alphabet[rng.below(alphabet.len() as u64) as usize];
            match rng.below(4) {
                0 => bytes[i] = b,
                1 => bytes.insert(i, b),
                2 => {
                    bytes.remove(i);
                }
                _ => {
                    let snippet = SNIPPETS[rng.below(SNIPPETS.len() as u64) as usize];
                    bytes.splice(i..i, snippet.iter().copied());
                }
            }
        }
        match readers_agree(&bytes) {
            Some(fields) => {
                answered += 1;
                let bad = Envelope::new(
                    env.kind(),
                    env.sender(),
                    env.recipients().to_vec(),
                    "key-id",
                    bytes,
                )
                .unwrap();
                let to = &env.recipients()[0];
                if let Ok(full) = decode_full(&bad, to, 0) {
                    assert_eq!(
                        decode(&bad, to, 0).unwrap(),
                        full,
                        "round {round}: {fields:?}"
                    );
                }
            }
            None => gave_up += 1,
        }
    }
    assert!(answered > 500 && gave_up > 500, "{answered} {gave_up}");
}
