//! Writes the committed corpus seeds of `fuzz/corpus/<target>/`: unsigned and
//! signed documents built from the seed articles, a status message, the
//! namespace variants real senders use, and a few C14N test shapes.
//!
//! `cargo run --example gen_corpus` (from `fuzz/`); deterministic.

use std::fs;
use std::path::Path;

use docaxis_edxml::{
    EdTimestamp, Message, ResponseFor, StatusCode, StatusMessage, TraceHeader, TraceHeaderList,
};
use docaxis_fuzz::{article_document, document, signed, unsigned, Fixture, ARTICLES, G12};

fn status() -> Message {
    let doc = document();
    Message::Status(Box::new(StatusMessage {
        from: doc.header.to[0].clone(),
        response_for: ResponseFor {
            organ_id: doc.header.from.organ_id.clone(),
            code: doc.header.code.joined(),
            promulgation_date: doc.header.promulgation_info.promulgation_date,
            document_id: doc.header.document_id.clone(),
        },
        staff_info: None,
        status_code: StatusCode::Arrived,
        description: "Đã đến".into(),
        timestamp: EdTimestamp::parse("2022/07/01 08:31:00").unwrap(),
        trace: TraceHeaderList {
            trace_headers: vec![TraceHeader {
                organ_id: doc.header.to[0].organ_id.clone(),
                timestamp: EdTimestamp::parse("2022/07/01 08:31:00").unwrap(),
            }],
            business: None,
        },
        signature: None,
    }))
}

/// The same document with the edXML namespace as the default namespace
/// instead of the `edXML:` prefix.
fn default_ns(xml: &[u8]) -> Vec<u8> {
    String::from_utf8_lossy(xml)
        .replace("xmlns:edXML=", "xmlns=")
        .replace("<edXML:", "<")
        .replace("</edXML:", "</")
        .into_bytes()
}

fn write(dir: &Path, target: &str, name: &str, bytes: &[u8]) {
    let d = dir.join(target);
    fs::create_dir_all(&d).unwrap();
    fs::write(d.join(name), bytes).unwrap();
}

const C14N_SHAPES: &[(&str, &str)] = &[
    (
        "ns_shapes.xml",
        "<?xml version=\"1.0\"?>\n<?pi before?>\n<a:r xmlns:a=\"urn:a\" xmlns:b=\"urn:b\" xmlns=\"urn:d\"><b:c b:x='1' y=\"2&amp;3\" a:z=\"&#9;\"/><d xmlns=\"\"><e xmlns=\"urn:d\">t&lt;&gt;&#13;</e></d><![CDATA[<x>&]]><!--c--></a:r>\n<?pi after?>",
    ),
    (
        "xml_attrs.xml",
        "<r xml:lang=\"vi\" xmlns:p=\"urn:p\"><p:s xml:space=\"preserve\" p:a=\"\r\n\"> Tiếng Việt </p:s><q xmlns:p=\"urn:p2\" p:b=\"v\"/></r>",
    ),
];

fn main() {
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let fx = Fixture::new();

    let example_unsigned = unsigned(document());
    let example_signed = signed(&fx, document());
    let status_signed = fx.signer(G12).sign_message(&status()).unwrap();
    let status_unsigned = docaxis_edxml::serialize(&status());

    // Articles 000, 001 and 004 (3.6–4.2 KB of text): small enough for
    // fast fuzzing, real Vietnamese content.
    let mut articles = Vec::new();
    for (name, text) in ARTICLES
        .iter()
        .filter(|(n, _)| ["000", "001", "004"].contains(n))
    {
        let d = article_document(text);
        articles.push((*name, unsigned(d.clone()), signed(&fx, d)));
    }

    for target in ["parse", "roundtrip", "c14n", "verify"] {
        write(&out, target, "example_unsigned.xml", &example_unsigned);
        write(&out, target, "example_signed.xml", &example_signed);
        write(
            &out,
            target,
            "example_default_ns.xml",
            &default_ns(&example_signed),
        );
        write(&out, target, "status_signed.xml", &status_signed);
    }
    for target in ["parse", "roundtrip"] {
        write(&out, target, "status_unsigned.xml", &status_unsigned);
        for (name, u, _) in &articles {
            write(&out, target, &format!("article_{name}_unsigned.xml"), u);
        }
    }
    for (name, _, s) in &articles {
        write(&out, "verify", &format!("article_{name}_signed.xml"), s);
    }
    let tampered =
        String::from_utf8(example_signed.clone())
            .unwrap()
            .replacen("Công văn", "Quyết định", 1);
    write(&out, "verify", "example_tampered.xml", tampered.as_bytes());
    for (name, text) in C14N_SHAPES {
        write(&out, "c14n", name, text.as_bytes());
    }
    // verify_mutate: a document selector byte, then 4-byte edits.
    let edits: &[(&str, &[u8])] = &[
        ("none_0", &[0]),
        ("none_1", &[1]),
        ("none_2", &[2]),
        ("flip", &[0, 0, 0x00, 0x80, b'X']),
        ("token_sig", &[0, 4, 0x00, 0x40, 0]),
        ("dup_range", &[1, 3, 0x00, 0x20, 16, 0x00, 0xA0]),
        ("delete", &[2, 2, 0x00, 0x60, 10]),
    ];
    for (name, bytes) in edits {
        write(&out, "verify_mutate", name, bytes);
    }
    eprintln!("corpus written to {}", out.display());
}
