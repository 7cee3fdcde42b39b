//! Sign and verify: what must verify, including every rewriting that
//! canonicalization makes equal.

use docaxis_dsig::{verify, VerifyError};
use docaxis_edxml::{ParseLimits, StatusCode};
use docaxis_suites::*;

fn check(bytes: &[u8]) -> Result<docaxis_dsig::Verified, VerifyError> {
    verify(
        bytes,
        &Fixture::new().directory,
        now(),
        &ParseLimits::default(),
    )
}

#[test]
fn signed_document_verifies_and_names_its_signer() {
    let fx = Fixture::new();
    let signed = sign(&fx.signer(G22), document());
    let v = check(&signed).unwrap();
    assert_eq!(v.signer.as_str(), G22);
    assert_eq!(v.key_id, "G22-2022");
    assert_eq!(
        v.message.document_id(),
        "000.00.00.G22,2022/07/01,123/VPCP-KSTT"
    );
    let text = String::from_utf8(signed).unwrap();
    assert!(text.contains("<Signature xmlns=\"http://www.w3.org/2000/09/xmldsig#\">"));
    assert!(text.contains("<Reference URI=\"\">"));
    assert!(text.contains("http://www.w3.org/2021/04/xmldsig-more#eddsa-ed25519"));
    assert!(text.contains("<KeyName>G22-2022</KeyName>"));
    // The signature sits at the end of edXMLHeader.
    assert!(text.contains("</Signature></edXML:edXMLHeader>"));
}

#[test]
fn the_digest_identifies_the_content_not_the_signature() {
    let fx = Fixture::new();
    let a = check(&sign(&fx.signer(G22), document())).unwrap();
    // The same document signed twice: same digest (Ed25519 is deterministic,
    // but the point is that the digest leaves the signature out).
    let b = check(&sign(&fx.signer(G22), document())).unwrap();
    assert_eq!(a.digest, b.digest);
    let mut other = document();
    other.header.subject.push('.');
    let c = check(&sign(&fx.signer(G22), other)).unwrap();
    assert_ne!(a.digest, c.digest);
}

#[test]
fn rewritings_that_canonicalization_makes_equal_still_verify() {
    let fx = Fixture::new();
    let signed = sign(&fx.signer(G22), document());
    let text = String::from_utf8(signed.clone()).unwrap();
    let forms: Vec<(&str, String)> = vec![
        ("single quotes", text.replace("version=\"1.0\">", "version='1.0'>")),
        (
            "empty-element form",
            text.replace("<edXML:Fax></edXML:Fax>", "<edXML:Fax/>"),
        ),
        (
            "attribute order and spacing",
            text.replace(
                "<Reference URI=\"\">",
                "<Reference   URI = \"\" >",
            ),
        ),
        (
            "namespace declared again lower down",
            text.replace(
                "<edXML:MessageHeader>",
                "<edXML:MessageHeader xmlns:edXML=\"http://www.mic.gov.vn/TBT/QCVN_102_2016\">",
            ),
        ),
        (
            "unused namespace declarations",
            text.replace(
                "<edXML:edXML xmlns:edXML=",
                "<edXML:edXML xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" xmlns:x=\"urn:unused\" xmlns:edXML=",
            ),
        ),
        ("comments", text.replace("<edXML:Subject>", "<!-- trích yếu --><edXML:Subject>")),
        ("no XML declaration", text.replacen("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", "", 1)),
        ("CRLF line ends", text.replace('\n', "\r\n")),
        (
            "character references",
            text.replace("Hà Nội</edXML:Place>", "H&#224; N&#x1ED9;i</edXML:Place>"),
        ),
    ];
    for (name, form) in forms {
        assert_ne!(
            form.as_bytes(),
            signed.as_slice(),
            "{name}: the rewrite changed nothing"
        );
        if let Err(e) = check(form.as_bytes()) {
            panic!("{name}: {e}");
        }
    }
}

#[test]
fn signature_written_with_a_ds_prefix_declared_on_the_root_verifies() {
    // Another implementation may write ds:Signature with the prefix declared
    // on the root. It signs its own (prefixed) SignedInfo; exclusive C14N
    // makes that canonical form independent of where the prefix is declared.
    use base64::Engine;
    use ed25519_dalek::Signer as _;
    let fx = Fixture::new();
    let text = String::from_utf8(sign(&fx.signer(G22), document())).unwrap();
    let start = text.find("<Signature").unwrap();
    let end = text.find("</Signature>").unwrap() + "</Signature>".len();
    let prefixed = text[start..end]
        .replace(" xmlns=\"http://www.w3.org/2000/09/xmldsig#\"", "")
        .replace("</", "\u{1}")
        .replace('<', "<ds:")
        .replace('\u{1}', "</ds:");
    let doc = format!("{}{}{}", &text[..start], prefixed, &text[end..]).replacen(
        "<edXML:edXML xmlns:edXML=",
        "<edXML:edXML xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" xmlns:edXML=",
        1,
    );
    // Re-sign the prefixed SignedInfo as that implementation would.
    let tree = docaxis_xml::Document::parse(doc.as_bytes(), &Default::default()).unwrap();
    let mut stack = vec![&tree.root];
    let mut signed_info = None;
    while let Some(e) = stack.pop() {
        if e.local == "SignedInfo" {
            signed_info = Some(e);
        }
        stack.extend(e.elements());
    }
    let mut canonical = Vec::new();
    docaxis_xml::c14n::canonicalize_element(signed_info.unwrap(), &mut canonical).unwrap();
    assert!(
        canonical.starts_with(b"<ds:SignedInfo xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">")
    );
    let value =
        base64::engine::general_purpose::STANDARD.encode(key(1).sign(&canonical).to_bytes());
    let old = &doc
        [doc.find("<ds:SignatureValue>").unwrap() + 19..doc.find("</ds:SignatureValue>").unwrap()];
    let doc = doc.replacen(old, &value, 1);
    check(doc.as_bytes()).unwrap();
    // And the prefix is not interchangeable after signing: renaming it is a
    // change C14N does not forgive.
    let renamed = doc
        .replace("ds:", "dsig:")
        .replace("xmlns:ds=", "xmlns:dsig=");
    assert!(matches!(
        check(renamed.as_bytes()),
        Err(VerifyError::BadSignature(_))
    ));
}

#[test]
fn free_form_ids_and_key_rotation() {
    let fx = Fixture::new();
    // A listed staging system signs with its own key.
    let mut doc = document();
    doc.header.from.organ_id = docaxis_edxml::OrganId::parse(STAGING).unwrap();
    doc.header.document_id = doc.header.expected_document_id();
    doc.trace.trace_headers[0].organ_id = doc.header.from.organ_id.clone();
    assert_eq!(
        check(&sign(&fx.signer(STAGING), doc))
            .unwrap()
            .signer
            .as_str(),
        STAGING
    );

    // G22's next key is refused before its window, accepted inside it.
    let next = fx.signer_with(23, "G22-2023");
    let early = sign(&next, document());
    assert!(matches!(check(&early), Err(VerifyError::Key { .. })));
    let mut later = document();
    later.trace.trace_headers[0].timestamp =
        docaxis_edxml::EdTimestamp::parse("2023/01/02 08:00:00").unwrap();
    let later = sign(&next, later);
    let v = verify(
        &later,
        &fx.directory,
        time::macros::datetime!(2023-01-02 09:00:00 +7),
        &ParseLimits::default(),
    );
    assert_eq!(v.unwrap().key_id, "G22-2023");
}

#[test]
fn status_messages_are_signed_like_documents() {
    let fx = Fixture::new();
    let doc = document();
    let status = docaxis_edxml::StatusMessage {
        from: doc.header.to[0].clone(),
        response_for: docaxis_edxml::ResponseFor {
            organ_id: doc.header.from.organ_id.clone(),
            code: doc.header.code.joined(),
            promulgation_date: doc.header.promulgation_info.promulgation_date,
            document_id: doc.header.document_id.clone(),
        },
        staff_info: None,
        status_code: StatusCode::Arrived,
        description: String::new(),
        timestamp: docaxis_edxml::EdTimestamp::parse("2022/07/01 08:31:00").unwrap(),
        trace: docaxis_edxml::TraceHeaderList {
            trace_headers: vec![docaxis_edxml::TraceHeader {
                organ_id: doc.header.to[0].organ_id.clone(),
                timestamp: docaxis_edxml::EdTimestamp::parse("2022/07/01 08:31:00").unwrap(),
            }],
            business: None,
        },
        signature: None,
    };
    let signed = fx
        .signer(G12)
        .sign_message(&docaxis_edxml::Message::Status(Box::new(status)))
        .unwrap();
    let v = check(&signed).unwrap();
    assert_eq!(v.signer.as_str(), G12);
    assert!(matches!(v.message, docaxis_edxml::Message::Status(_)));
}
