//! Composing a document from a text and a few facts, with sensible
//! defaults: what `docaxis new`, the demo, the benches and the tests use to
//! turn an article into an edXML document.

use crate::datetime::{EdDate, EdTimestamp};
use crate::model::*;
use crate::OrganId;

/// The facts a document needs; everything else gets a default.
#[derive(Debug, Clone)]
pub struct Draft {
    /// The sender.
    pub from: Organization,
    /// The recipients.
    pub to: Vec<Organization>,
    /// Number and notation.
    pub code: Code,
    /// Promulgation date.
    pub date: EdDate,
    /// When the sender's adapter sends it (its TraceHeader).
    pub sent_at: EdTimestamp,
    /// Trích yếu; at most 500 characters.
    pub subject: String,
    /// The text.
    pub content: String,
    /// Độ khẩn.
    pub priority: Priority,
    /// e.g. `Công văn`.
    pub type_name: String,
    /// Place of promulgation.
    pub place: String,
    /// Who signed the paper document.
    pub signer: SignerInfo,
    /// Due date, if any.
    pub due_date: Option<EdDate>,
    /// Files to attach.
    pub attachments: Vec<Attachment>,
    /// Revoke / update / replace information.
    pub business: Option<Business>,
}

/// An agency with only its id and name (the other `From` fields empty).
pub fn organization(id: OrganId, name: impl Into<String>) -> Organization {
    Organization {
        organ_id: id,
        organization_in_charge: String::new(),
        organ_name: name.into(),
        organ_add: String::new(),
        email: String::new(),
        telephone: String::new(),
        fax: String::new(),
        website: String::new(),
    }
}

/// A subject taken from a text: its first sentence (or line), at most 500
/// characters, cut at a word boundary.
pub fn subject_from_text(text: &str) -> String {
    let text = text.trim_start();
    let line = text.lines().next().unwrap_or("");
    let sentence = match line.find(". ") {
        Some(i) => &line[..=i],
        None => line,
    };
    let max = crate::validate::MAX_SUBJECT_CHARS;
    if sentence.chars().count() <= max {
        return sentence.trim().to_owned();
    }
    let cut: String = sentence.chars().take(max - 1).collect();
    let cut = match cut.rfind(' ') {
        Some(i) => &cut[..i],
        None => &cut,
    };
    format!("{}…", cut.trim_end())
}

/// A MIME type from a file name's extension (what document systems attach).
pub fn content_type_for(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("pdf") => "application/pdf",
        Some("txt") => "text/plain",
        Some("xml") => "application/xml",
        Some("doc") => "application/msword",
        Some("docx") => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        Some("xls") => "application/vnd.ms-excel",
        Some("xlsx") => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("zip") => "application/zip",
        _ => "application/octet-stream",
    }
}

impl Draft {
    /// A draft with defaults: normal priority, `Công văn`, Hà Nội, sent at
    /// 08:00 on the promulgation date.
    pub fn new(
        from: Organization,
        to: Vec<Organization>,
        code: Code,
        date: EdDate,
        content: String,
    ) -> Draft {
        let sent_at = EdTimestamp::new(
            date.date()
                .with_hms(8, 0, 0)
                .expect("08:00:00 is a valid time"),
        );
        Draft {
            subject: subject_from_text(&content),
            from,
            to,
            code,
            date,
            sent_at,
            content,
            priority: Priority::Normal,
            type_name: "Công văn".into(),
            place: "Hà Nội".into(),
            signer: SignerInfo {
                competence: String::new(),
                position: String::new(),
                full_name: "Văn thư".into(),
            },
            due_date: None,
            attachments: Vec::new(),
            business: None,
        }
    }

    /// Adds an attachment; its content id is `cid:<n>`.
    pub fn attach(&mut self, name: &str, content: Vec<u8>) {
        self.attachments.push(Attachment {
            content_id: format!("cid:{}", self.attachments.len() + 1),
            attachment_name: name.into(),
            description: String::new(),
            content_type: content_type_for(name).into(),
            content,
        });
    }

    /// The document, with its DocumentId, TraceHeader and manifest.
    pub fn build(self) -> Document {
        let references = self
            .attachments
            .iter()
            .map(|a| ManifestReference {
                content_id: a.content_id.clone(),
                content_type: a.content_type.clone(),
                description: a.description.clone(),
                attachment_name: a.attachment_name.clone(),
            })
            .collect();
        let document_id = compose_document_id(&self.from.organ_id, self.date, &self.code);
        let to_places = self.to.iter().map(|t| t.organ_name.clone()).collect();
        Document {
            trace: TraceHeaderList {
                trace_headers: vec![TraceHeader {
                    organ_id: self.from.organ_id.clone(),
                    timestamp: self.sent_at,
                }],
                business: self.business,
            },
            header: MessageHeader {
                from: self.from,
                to: self.to,
                document_id,
                code: self.code,
                promulgation_info: PromulgationInfo {
                    place: self.place,
                    promulgation_date: self.date,
                },
                document_type: DocumentType {
                    doc_type: "1".into(),
                    type_detail: String::new(),
                    type_name: self.type_name,
                },
                subject: self.subject,
                content: self.content,
                signer_info: self.signer,
                due_date: self.due_date,
                other_info: OtherInfo {
                    priority: self.priority,
                    sphere_of_promulgation: String::new(),
                    typer_notation: String::new(),
                    promulgation_amount: 1,
                    page_amount: 1,
                    direction: None,
                    appendixes: Vec::new(),
                },
                steering_type: None,
                to_places,
                response_for: None,
            },
            signature: None,
            manifest: Manifest {
                version: "1.0".into(),
                references,
            },
            attachments: self.attachments,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_first_sentences_within_the_limit() {
        assert_eq!(subject_from_text("  Một câu. Câu hai."), "Một câu.");
        assert_eq!(subject_from_text("Dòng một\nDòng hai"), "Dòng một");
        let long = "từ ".repeat(400);
        let s = subject_from_text(&long);
        assert!(s.chars().count() <= 500);
        assert!(s.ends_with('…'));
    }

    #[test]
    fn drafts_build_valid_documents() {
        let id = |s| OrganId::parse(s).unwrap();
        let mut d = Draft::new(
            organization(id("000.00.00.G22"), "Văn phòng Chính phủ"),
            vec![organization(id("000.00.00.G12"), "Bộ Tài chính")],
            Code {
                code_number: "1".into(),
                code_notation: "VPCP".into(),
            },
            EdDate::parse("2024/01/02").unwrap(),
            "Nội dung. Thêm.".into(),
        );
        d.attach("a.pdf", b"%PDF".to_vec());
        let doc = d.build();
        assert_eq!(doc.header.document_id, "000.00.00.G22,2024/01/02,1/VPCP");
        assert_eq!(doc.attachments[0].content_type, "application/pdf");
        let m = Message::Document(Box::new(doc));
        assert_eq!(crate::validate(&m, &crate::NoDirectory), vec![]);
    }
}
