//! Cross-field rules, checked on the model.
//!
//! Parsing guarantees syntax (ids, dates, enumerations, base64); this
//! module checks what needs more than one field or outside knowledge:
//! recipients, lengths, `DocumentId` consistency, the manifest against the
//! attachments, and whether free-form agency ids are in the directory.
//! It works on any [`Message`], parsed or built in code; for a parsed one,
//! [`crate::SourceMap::locate`] adds the line and column.

use std::collections::HashMap;

use crate::error::FieldError;
use crate::model::*;
use crate::OrganId;

/// Longest `Subject` allowed (characters).
pub const MAX_SUBJECT_CHARS: usize = 500;

/// What validation needs to know about the agency directory: whether it
/// lists an id. National ids are accepted on their form alone; free-form
/// ids (test and staging systems) only if listed.
pub trait Directory {
    /// True if the directory lists this agency.
    fn is_listed(&self, id: &OrganId) -> bool;
}

/// No directory at hand: only national ids are accepted.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoDirectory;

impl Directory for NoDirectory {
    fn is_listed(&self, _: &OrganId) -> bool {
        false
    }
}

/// Checks every cross-field rule; an empty result means valid.
pub fn validate(message: &Message, directory: &dyn Directory) -> Vec<FieldError> {
    let mut v = Validator {
        directory,
        errors: Vec::new(),
    };
    match message {
        Message::Document(d) => v.document(d),
        Message::Status(s) => v.status(s),
    }
    v.errors
}

struct Validator<'d> {
    directory: &'d dyn Directory,
    errors: Vec<FieldError>,
}

impl Validator<'_> {
    fn error(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError::new(path, message));
    }

    fn organ_id(&mut self, path: &str, id: &OrganId) {
        if !id.is_national() && !self.directory.is_listed(id) {
            self.error(
                path,
                format!(
                    "{id} is not a national agency id (NNN.NN.NN.Xnn, e.g. 000.00.00.G22) \
                     and the agency directory does not list it"
                ),
            );
        }
    }

    fn non_empty(&mut self, path: &str, value: &str) {
        if value.trim().is_empty() {
            self.error(path, "is empty; a value is required");
        }
    }

    fn trace(&mut self, trace: &TraceHeaderList, from: &OrganId) {
        for (i, th) in trace.trace_headers.iter().enumerate() {
            self.organ_id(
                &format!("TraceHeaderList/TraceHeader[{}]/OrganId", i + 1),
                &th.organ_id,
            );
        }
        if let Some(first) = trace.trace_headers.first() {
            if &first.organ_id != from {
                self.error(
                    "TraceHeaderList/TraceHeader[1]/OrganId",
                    format!(
                        "the first hop is {}, but the message is from {from}; \
                         the sender's own TraceHeader comes first",
                        first.organ_id
                    ),
                );
            }
        }
        if let Some(b) = &trace.business {
            if b.doc_type != BusinessDocType::New {
                self.non_empty("TraceHeaderList/Bussiness/BussinessDocReason", &b.reason);
                if b.document_id.as_deref().is_none_or(|d| d.trim().is_empty()) {
                    self.error(
                        "TraceHeaderList/Bussiness/DocumentId",
                        "a revoke, update or replace must name the DocumentId it concerns",
                    );
                }
            }
            for (i, r) in b.replacements.iter().enumerate() {
                for (j, id) in r.organ_ids.iter().enumerate() {
                    self.organ_id(
                        &format!(
                            "TraceHeaderList/Bussiness/ReplacementInfoList/ReplacementInfo[{}]/OrganIdList/OrganId[{}]",
                            i + 1,
                            j + 1
                        ),
                        id,
                    );
                }
            }
            for (i, r) in b.receivers.iter().enumerate() {
                self.organ_id(
                    &format!(
                        "TraceHeaderList/Bussiness/ReceiverList/Receiver[{}]/OrganId",
                        i + 1
                    ),
                    &r.organ_id,
                );
            }
        }
    }

    fn response_for(&mut self, path: &str, r: &ResponseFor) {
        self.organ_id(&format!("{path}/OrganId"), &r.organ_id);
        self.non_empty(&format!("{path}/Code"), &r.code);
        let expected = format!("{},{},{}", r.organ_id, r.promulgation_date, r.code);
        if r.document_id != expected {
            self.error(
                format!("{path}/DocumentId"),
                format!(
                    "is {:?} but OrganId, PromulgationDate and Code say {expected:?}",
                    r.document_id
                ),
            );
        }
    }

    fn document(&mut self, d: &Document) {
        let h = &d.header;
        self.organ_id("MessageHeader/From/OrganId", &h.from.organ_id);
        self.non_empty("MessageHeader/From/OrganName", &h.from.organ_name);
        if h.to.is_empty() {
            self.error(
                "MessageHeader/To",
                "no recipient: add at least one To element with the recipient's OrganId",
            );
        }
        let mut seen: HashMap<&OrganId, usize> = HashMap::new();
        for (i, to) in h.to.iter().enumerate() {
            let path = format!("MessageHeader/To[{}]", i + 1);
            self.organ_id(&format!("{path}/OrganId"), &to.organ_id);
            self.non_empty(&format!("{path}/OrganName"), &to.organ_name);
            if let Some(first) = seen.insert(&to.organ_id, i + 1) {
                self.error(
                    format!("{path}/OrganId"),
                    format!(
                        "recipient {} is listed twice (also To[{first}]); list each recipient once",
                        to.organ_id
                    ),
                );
            }
        }
        self.non_empty("MessageHeader/Code/CodeNumber", &h.code.code_number);
        self.non_empty("MessageHeader/Code/CodeNotation", &h.code.code_notation);
        self.non_empty(
            "MessageHeader/PromulgationInfo/Place",
            &h.promulgation_info.place,
        );
        self.non_empty("MessageHeader/DocumentType/Type", &h.document_type.doc_type);
        self.non_empty(
            "MessageHeader/DocumentType/TypeName",
            &h.document_type.type_name,
        );
        self.non_empty(
            "MessageHeader/SignerInfo/FullName",
            &h.signer_info.full_name,
        );
        self.non_empty("MessageHeader/Subject", &h.subject);
        let chars = h.subject.chars().count();
        if chars > MAX_SUBJECT_CHARS {
            self.error(
                "MessageHeader/Subject",
                format!("is {chars} characters long; at most {MAX_SUBJECT_CHARS} are allowed"),
            );
        }
        let expected = h.expected_document_id();
        if h.document_id != expected {
            self.error(
                "MessageHeader/DocumentId",
                format!(
                    "is {:?} but From, PromulgationDate and Code say {expected:?} \
                     (form: <OrganId>,<yyyy/MM/dd>,<number>/<notation>)",
                    h.document_id
                ),
            );
        }
        if let Some(due) = h.due_date {
            if due < h.promulgation_info.promulgation_date {
                self.error(
                    "MessageHeader/DueDate",
                    format!(
                        "{due} is before the promulgation date {}",
                        h.promulgation_info.promulgation_date
                    ),
                );
            }
        }
        if let Some(r) = &h.response_for {
            self.response_for("MessageHeader/ResponseFor", r);
        }
        self.trace(&d.trace, &h.from.organ_id);
        self.manifest(d);
    }

    /// Every manifest reference has its attachment and every attachment
    /// its reference, matched by ContentId, each ContentId once.
    fn manifest(&mut self, d: &Document) {
        let mut refs: HashMap<&str, usize> = HashMap::new();
        for (i, r) in d.manifest.references.iter().enumerate() {
            let path = format!("edXMLManifest/Reference[{}]/ContentId", i + 1);
            self.non_empty(&path, &r.content_id);
            if refs.insert(&r.content_id, i + 1).is_some() {
                self.error(
                    &path,
                    format!("ContentId {:?} is referenced twice", r.content_id),
                );
            }
        }
        let mut atts: HashMap<&str, usize> = HashMap::new();
        for (i, a) in d.attachments.iter().enumerate() {
            let path = format!("AttachmentEncoded/Attachment[{}]/ContentId", i + 1);
            if atts.insert(&a.content_id, i + 1).is_some() {
                self.error(
                    &path,
                    format!("ContentId {:?} is used by two attachments", a.content_id),
                );
            }
            if !refs.contains_key(a.content_id.as_str()) {
                self.error(
                    &path,
                    format!(
                        "attachment {:?} ({}) has no Reference in edXMLManifest; add one",
                        a.content_id, a.attachment_name
                    ),
                );
            }
        }
        for (i, r) in d.manifest.references.iter().enumerate() {
            if !atts.contains_key(r.content_id.as_str()) {
                self.error(
                    format!("edXMLManifest/Reference[{}]/ContentId", i + 1),
                    format!(
                        "the manifest names {:?} ({}) but no Attachment carries it",
                        r.content_id, r.attachment_name
                    ),
                );
            }
        }
    }

    fn status(&mut self, s: &StatusMessage) {
        self.organ_id("MessageHeader/From/OrganId", &s.from.organ_id);
        self.response_for("MessageHeader/ResponseFor", &s.response_for);
        if s.status_code == StatusCode::Refused {
            self.non_empty("MessageHeader/Description", &s.description);
        }
        self.trace(&s.trace, &s.from.organ_id);
    }
}
