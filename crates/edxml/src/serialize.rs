//! From a [`Message`] to bytes.
//!
//! The output uses the `edXML:` prefix declared once on the root, indents
//! with two spaces, writes every mandatory element even when empty, and
//! keeps free text exactly (escaping only what XML requires, and CR so that
//! it survives line-end normalization). `parse(serialize(m)) == m` for every
//! message the model can hold; the property tests check it.
//!
//! A `Signature` in the model is written back in the XML-DSig namespace, but
//! the signature proves the bytes it was made over, not this rewriting:
//! verify the bytes you received.

use base64::Engine;

use crate::model::*;

/// Serializes a message as UTF-8 edXML with an XML declaration.
pub fn serialize(message: &Message) -> Vec<u8> {
    let mut w = Writer::default();
    w.out
        .push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    w.out.push_str("<edXML:edXML xmlns:edXML=\"");
    w.out.push_str(EDXML_NS);
    w.out.push_str("\">");
    w.depth = 1;
    w.open("edXMLEnvelope");
    w.open("edXMLHeader");
    match message {
        Message::Document(d) => {
            w.message_header(&d.header);
            w.trace(&d.trace);
            if let Some(s) = &d.signature {
                w.signature(s);
            }
            w.close("edXMLHeader");
            w.open("edXMLBody");
            w.manifest(&d.manifest);
            w.close("edXMLBody");
            w.close("edXMLEnvelope");
            if !d.attachments.is_empty() {
                w.attachments(&d.attachments);
            }
        }
        Message::Status(s) => {
            w.status(s);
            w.trace(&s.trace);
            if let Some(sig) = &s.signature {
                w.signature(sig);
            }
            w.close("edXMLHeader");
            w.close("edXMLEnvelope");
        }
    }
    w.out.push_str("\n</edXML:edXML>\n");
    w.out.into_bytes()
}

#[derive(Default)]
struct Writer {
    out: String,
    depth: usize,
}

impl Writer {
    fn indent(&mut self) {
        self.out.push('\n');
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
    }

    fn open(&mut self, name: &str) {
        self.indent();
        self.out.push_str("<edXML:");
        self.out.push_str(name);
        self.out.push('>');
        self.depth += 1;
    }

    fn close(&mut self, name: &str) {
        self.depth -= 1;
        self.indent();
        self.out.push_str("</edXML:");
        self.out.push_str(name);
        self.out.push('>');
    }

    fn leaf(&mut self, name: &str, text: &str) {
        self.indent();
        self.out.push_str("<edXML:");
        self.out.push_str(name);
        self.out.push('>');
        escape_text(&mut self.out, text);
        self.out.push_str("</edXML:");
        self.out.push_str(name);
        self.out.push('>');
    }

    fn leaf_opt(&mut self, name: &str, text: Option<&str>) {
        if let Some(t) = text {
            self.leaf(name, t);
        }
    }

    fn organization(&mut self, name: &str, o: &Organization) {
        self.open(name);
        self.leaf("OrganId", o.organ_id.as_str());
        self.leaf("OrganizationInCharge", &o.organization_in_charge);
        self.leaf("OrganName", &o.organ_name);
        self.leaf("OrganAdd", &o.organ_add);
        self.leaf("Email", &o.email);
        self.leaf("Telephone", &o.telephone);
        self.leaf("Fax", &o.fax);
        self.leaf("Website", &o.website);
        self.close(name);
    }

    fn message_header(&mut self, h: &MessageHeader) {
        self.open("MessageHeader");
        self.organization("From", &h.from);
        for to in &h.to {
            self.organization("To", to);
        }
        self.leaf("DocumentId", &h.document_id);
        self.open("Code");
        self.leaf("CodeNumber", &h.code.code_number);
        self.leaf("CodeNotation", &h.code.code_notation);
        self.close("Code");
        self.open("PromulgationInfo");
        self.leaf("Place", &h.promulgation_info.place);
        self.leaf(
            "PromulgationDate",
            &h.promulgation_info.promulgation_date.to_string(),
        );
        self.close("PromulgationInfo");
        self.open("DocumentType");
        self.leaf("Type", &h.document_type.doc_type);
        self.leaf("TypeDetail", &h.document_type.type_detail);
        self.leaf("TypeName", &h.document_type.type_name);
        self.close("DocumentType");
        self.leaf("Subject", &h.subject);
        self.leaf("Content", &h.content);
        self.open("SignerInfo");
        self.leaf("Competence", &h.signer_info.competence);
        self.leaf("Position", &h.signer_info.position);
        self.leaf("FullName", &h.signer_info.full_name);
        self.close("SignerInfo");
        let due = h.due_date.map(|d| d.to_string()).unwrap_or_default();
        self.leaf("DueDate", &due);
        self.other_info(&h.other_info);
        self.leaf_opt("SteeringType", h.steering_type.as_deref());
        self.open("ToPlaces");
        for p in &h.to_places {
            self.leaf("Place", p);
        }
        self.close("ToPlaces");
        if let Some(r) = &h.response_for {
            self.response_for(r);
        }
        self.close("MessageHeader");
    }

    fn other_info(&mut self, o: &OtherInfo) {
        self.open("OtherInfo");
        self.leaf("Priority", &o.priority.wire());
        self.leaf("SphereOfPromulgation", &o.sphere_of_promulgation);
        self.leaf("TyperNotation", &o.typer_notation);
        self.leaf("PromulgationAmount", &o.promulgation_amount.to_string());
        self.leaf("PageAmount", &o.page_amount.to_string());
        self.leaf_opt("Direction", o.direction.as_deref());
        if !o.appendixes.is_empty() {
            self.open("Appendixes");
            for a in &o.appendixes {
                self.leaf("Appendix", a);
            }
            self.close("Appendixes");
        }
        self.close("OtherInfo");
    }

    fn response_for(&mut self, r: &ResponseFor) {
        self.open("ResponseFor");
        self.leaf("OrganId", r.organ_id.as_str());
        self.leaf("Code", &r.code);
        self.leaf("PromulgationDate", &r.promulgation_date.to_string());
        self.leaf("DocumentId", &r.document_id);
        self.close("ResponseFor");
    }

    fn staff_info(&mut self, s: &StaffInfo) {
        self.open("StaffInfo");
        self.leaf("Department", &s.department);
        self.leaf("Staff", &s.staff);
        self.leaf("Mobile", &s.mobile);
        self.leaf("Email", &s.email);
        self.close("StaffInfo");
    }

    fn trace(&mut self, t: &TraceHeaderList) {
        self.open("TraceHeaderList");
        for th in &t.trace_headers {
            self.open("TraceHeader");
            self.leaf("OrganId", th.organ_id.as_str());
            self.leaf("Timestamp", &th.timestamp.to_string());
            self.close("TraceHeader");
        }
        if let Some(b) = &t.business {
            self.open("Bussiness");
            self.leaf_opt("DocumentId", b.document_id.as_deref());
            self.leaf("BussinessDocType", &b.doc_type.wire());
            self.leaf("BussinessDocReason", &b.reason);
            self.leaf_opt("Paper", b.paper.as_deref());
            if let Some(s) = &b.staff_info {
                self.staff_info(s);
            }
            if !b.replacements.is_empty() {
                self.open("ReplacementInfoList");
                for r in &b.replacements {
                    self.open("ReplacementInfo");
                    self.leaf("DocumentId", &r.document_id);
                    self.open("OrganIdList");
                    for id in &r.organ_ids {
                        self.leaf("OrganId", id.as_str());
                    }
                    self.close("OrganIdList");
                    self.close("ReplacementInfo");
                }
                self.close("ReplacementInfoList");
            }
            if !b.receivers.is_empty() {
                self.open("ReceiverList");
                for r in &b.receivers {
                    self.open("Receiver");
                    self.leaf("ReceiverType", &r.receiver_type);
                    self.leaf("OrganId", r.organ_id.as_str());
                    self.close("Receiver");
                }
                self.close("ReceiverList");
            }
            self.close("Bussiness");
        }
        self.close("TraceHeaderList");
    }

    fn status(&mut self, s: &StatusMessage) {
        self.open("MessageHeader");
        self.organization("From", &s.from);
        self.response_for(&s.response_for);
        if let Some(st) = &s.staff_info {
            self.staff_info(st);
        }
        self.leaf("StatusCode", &s.status_code.wire());
        self.leaf("Description", &s.description);
        self.leaf("Timestamp", &s.timestamp.to_string());
        self.close("MessageHeader");
    }

    /// The signature in the XML-DSig namespace as the default namespace of
    /// its subtree, written without indentation inside.
    fn signature(&mut self, s: &SignatureInfo) {
        self.indent();
        self.out.push_str(&signature_element(s));
    }

    fn manifest(&mut self, m: &Manifest) {
        self.indent();
        self.out.push_str("<edXML:edXMLManifest version=\"");
        escape_attr(&mut self.out, &m.version);
        self.out.push_str("\">");
        self.depth += 1;
        for r in &m.references {
            self.open("Reference");
            self.leaf("ContentId", &r.content_id);
            self.leaf("ContentType", &r.content_type);
            self.leaf("Description", &r.description);
            self.leaf("AttachmentName", &r.attachment_name);
            self.close("Reference");
        }
        self.close("edXMLManifest");
    }

    fn attachments(&mut self, attachments: &[Attachment]) {
        self.open("AttachmentEncoded");
        for a in attachments {
            self.open("Attachment");
            self.leaf("ContentId", &a.content_id);
            self.leaf("AttachmentName", &a.attachment_name);
            self.leaf("Description", &a.description);
            self.leaf("ContentType", &a.content_type);
            self.indent();
            self.out.push_str("<edXML:ContentTransferEncoded>");
            base64::engine::general_purpose::STANDARD.encode_string(&a.content, &mut self.out);
            self.out.push_str("</edXML:ContentTransferEncoded>");
            self.close("Attachment");
        }
        self.close("AttachmentEncoded");
    }
}

/// The XML text of a `Signature` element for `s`, in the XML-DSig namespace
/// (declared as the default namespace on `Signature`).
///
/// The signer inserts exactly this text, so a signed document re-serialized
/// from its model reproduces the bytes that were signed.
pub fn signature_element(s: &SignatureInfo) -> String {
    let mut out = String::with_capacity(1024);
    out.push_str("<Signature xmlns=\"");
    out.push_str(DSIG_NS);
    out.push_str("\">");
    out.push_str(&signed_info_element(s));
    out.push_str("<SignatureValue>");
    escape_text(&mut out, &s.signature_value);
    out.push_str("</SignatureValue>");
    if let Some(k) = &s.key_name {
        out.push_str("<KeyInfo><KeyName>");
        escape_text(&mut out, k);
        out.push_str("</KeyName></KeyInfo>");
    }
    out.push_str("</Signature>");
    out
}

/// The `SignedInfo` element of `s`, written in its exclusive canonical form
/// (the XML-DSig namespace declared on it, no white space, start and end
/// tags), so the signer can sign these very bytes.
pub fn signed_info_element(s: &SignatureInfo) -> String {
    let mut out = String::with_capacity(512);
    let alg = |out: &mut String, name: &str, value: &str| {
        out.push('<');
        out.push_str(name);
        out.push_str(" Algorithm=\"");
        escape_attr(out, value);
        out.push_str("\"></");
        out.push_str(name);
        out.push('>');
    };
    out.push_str("<SignedInfo xmlns=\"");
    out.push_str(DSIG_NS);
    out.push_str("\">");
    alg(
        &mut out,
        "CanonicalizationMethod",
        &s.canonicalization_method,
    );
    alg(&mut out, "SignatureMethod", &s.signature_method);
    for r in &s.references {
        out.push_str("<Reference");
        if let Some(uri) = &r.uri {
            out.push_str(" URI=\"");
            escape_attr(&mut out, uri);
            out.push('"');
        }
        out.push('>');
        if !r.transforms.is_empty() {
            out.push_str("<Transforms>");
            for t in &r.transforms {
                alg(&mut out, "Transform", t);
            }
            out.push_str("</Transforms>");
        }
        alg(&mut out, "DigestMethod", &r.digest_method);
        out.push_str("<DigestValue>");
        escape_text(&mut out, &r.digest_value);
        out.push_str("</DigestValue></Reference>");
    }
    out.push_str("</SignedInfo>");
    out
}

fn escape_text(out: &mut String, s: &str) {
    escape_with(out, s, |b| match b {
        b'&' => Some("&amp;"),
        b'<' => Some("&lt;"),
        b'>' => Some("&gt;"),
        b'\r' => Some("&#xD;"),
        _ => None,
    });
}

fn escape_attr(out: &mut String, s: &str) {
    escape_with(out, s, |b| match b {
        b'&' => Some("&amp;"),
        b'<' => Some("&lt;"),
        b'"' => Some("&quot;"),
        b'\t' => Some("&#x9;"),
        b'\n' => Some("&#xA;"),
        b'\r' => Some("&#xD;"),
        _ => None,
    });
}

/// Copies `s` into `out` with the bytes `escape` names replaced: runs
/// between them are copied whole (every escaped byte is ASCII, so the runs
/// end on character boundaries), not pushed one character at a time.
#[inline]
fn escape_with(out: &mut String, s: &str, escape: impl Fn(u8) -> Option<&'static str>) {
    out.reserve(s.len());
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        if let Some(e) = escape(b) {
            out.push_str(&s[start..i]);
            out.push_str(e);
            start = i + 1;
        }
    }
    out.push_str(&s[start..]);
}
