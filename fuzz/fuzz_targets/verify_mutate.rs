//! Structure-aware verification fuzzing: the input is a list of edits
//! applied to a validly signed document (byte flips, inserts, deletes,
//! duplicated ranges — the raw material of signature wrapping — and XML
//! tokens). Whatever the edit, verify must not panic, and anything it
//! accepts must be, canonically, the document that was signed.
#![no_main]

use std::sync::OnceLock;

use docaxis_dsig::{verify, Verified};
use docaxis_edxml::ParseLimits;
use docaxis_fuzz::{article_document, document, now, signed, Fixture, ARTICLES};
use libfuzzer_sys::fuzz_target;

struct Base {
    fx: Fixture,
    docs: Vec<(Vec<u8>, Verified)>,
}

fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| {
        let fx = Fixture::new();
        let mut docs = Vec::new();
        let sources = [
            document(),
            article_document(ARTICLES[0].1),
            article_document(ARTICLES[1].1),
        ];
        for d in sources {
            let bytes = signed(&fx, d);
            let v = verify(&bytes, &fx.directory, now(), &ParseLimits::default())
                .expect("the base documents verify");
            docs.push((bytes, v));
        }
        Base { fx, docs }
    })
}

const TOKENS: &[&[u8]] = &[
    b"<Signature xmlns=\"http://www.w3.org/2000/09/xmldsig#\">",
    b"</Signature>",
    b"<edXML:edXMLHeader>",
    b"</edXML:edXMLHeader>",
    b"<edXML:Subject>x</edXML:Subject>",
    b" xmlns=\"\"",
    b" xmlns:edXML=\"http://www.mic.gov.vn/TBT/QCVN_102_2016\"",
    b" xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"",
    b"ds:",
    b"&amp;",
    b"&#x20;",
    b"<![CDATA[",
    b"]]>",
    b"<!--c-->",
    b"<?pi x?>",
    b"<!DOCTYPE x [<!ENTITY a \"b\">]>",
    b"\r\n",
    b" a=\"1\"",
    b"G22-2021",
    b"G22-stolen",
    b"000.00.00.G12",
    b"2022/07/01 08:30:00",
    b"=",
    b"\xC3",
];

fn apply(doc: &mut Vec<u8>, ops: &[u8]) {
    let mut i = 0;
    while i + 4 <= ops.len() && doc.len() > 1 {
        let op = ops[i];
        let a = u16::from_le_bytes([ops[i + 1], ops[i + 2]]) as usize;
        let b = ops[i + 3];
        i += 4;
        // Positions scale to the document so that 16 bits reach anywhere.
        let pos = a * doc.len() / 65536;
        match op % 6 {
            0 => doc[pos] = b,
            1 => doc.insert(pos, b),
            2 => {
                let end = (pos + 1 + b as usize % 64).min(doc.len());
                doc.drain(pos..end);
            }
            3 => {
                // Duplicate a range somewhere else.
                if i + 2 > ops.len() {
                    break;
                }
                let at = u16::from_le_bytes([ops[i], ops[i + 1]]) as usize * doc.len() / 65536;
                i += 2;
                let end = (pos + 1 + b as usize * 8).min(doc.len());
                let range: Vec<u8> = doc[pos..end].to_vec();
                doc.splice(at..at, range);
            }
            4 => {
                let t = TOKENS[b as usize % TOKENS.len()];
                doc.splice(pos..pos, t.iter().copied());
            }
            _ => {
                // Swap two bytes (attribute/quote/prefix games).
                let other = (pos + 1 + b as usize) % doc.len();
                doc.swap(pos, other);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, ops)) = data.split_first() else {
        return;
    };
    let base = base();
    let (original, expected) = &base.docs[which as usize % base.docs.len()];
    let mut doc = original.clone();
    apply(&mut doc, ops);
    match verify(&doc, &base.fx.directory, now(), &ParseLimits::default()) {
        Err(e) => {
            let _ = e.to_string();
        }
        Ok(v) => {
            // Accepted: then it is the signed document, up to what C14N
            // makes equal, signed by the same key.
            assert_eq!(v.digest, expected.digest, "accepted a different digest");
            assert_eq!(v.key_id, expected.key_id, "accepted another key");
            assert_eq!(v.signer, expected.signer);
            let strip = |m: &docaxis_edxml::Message| match m {
                docaxis_edxml::Message::Document(d) => {
                    let mut d = d.clone();
                    d.signature = None;
                    docaxis_edxml::Message::Document(d)
                }
                other => other.clone(),
            };
            assert_eq!(
                strip(&v.message),
                strip(&expected.message),
                "accepted a message that reads differently from the signed one"
            );
        }
    }
});
