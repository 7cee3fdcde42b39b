//! From bytes to a [`Message`].
//!
//! Liberal where real senders differ: the edXML namespace may be bound to
//! the `edXML:` prefix, to the default namespace, or both; the `Signature`
//! may be in the XML-DSig namespace, the edXML one or none; white space
//! around elements and inside identifiers, dates and numbers is ignored;
//! unknown elements in the edXML namespace are skipped (they stay covered by
//! the signature). The root may be `edXML` or, as some systems send it,
//! `edXMLEnvelope` alone.
//!
//! Strict where it matters: everything the hardened reader refuses
//! (DOCTYPE, bombs, bad encoding), elements in a foreign namespace, every
//! mandatory field, no field given twice, valid dates, ids, enumerations,
//! base64, and bounds on attachment count and size. Field problems are
//! collected, not stopped at, so the sender learns everything at once.

use std::borrow::Cow;
use std::collections::HashMap;

use docaxis_xml::{Document as XmlDocument, Element, Limits, Position};

use crate::datetime::{EdDate, EdTimestamp};
use crate::error::{FieldError, ParseError};
use crate::model::*;
use crate::OrganId;

/// Bounds for edXML messages, on top of the XML reader's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseLimits {
    /// Bounds for the XML reader (size, depth, element count, ...).
    pub xml: Limits,
    /// Most attachments in one document.
    pub max_attachments: usize,
    /// Largest attachment, decoded, in bytes.
    pub max_attachment_bytes: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits {
            xml: Limits::default(),
            max_attachments: 64,
            max_attachment_bytes: 32 * 1024 * 1024,
        }
    }
}

/// Where each parsed field was found, so that validation errors found later
/// on the model can name a line and column.
///
/// Recording every field's path and offset costs more than the rest of the
/// model (a string per field), and positions are only wanted when there is
/// an error to report; so the map records nothing up front, and
/// [`SourceMap::locate`] re-reads the source with recording on.
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    limits: ParseLimits,
}

impl SourceMap {
    /// Fills in the position of each error from its path (or the nearest
    /// enclosing path that was seen). `source` must be the bytes the
    /// message was parsed from.
    pub fn locate(&self, source: &[u8], errors: &mut [FieldError]) {
        if errors.iter().all(|e| e.position.is_some()) {
            return;
        }
        let Ok(doc) = XmlDocument::parse(source, &self.limits.xml) else {
            return;
        };
        let offsets = Cx::run(&doc, &self.limits, true).offsets;
        for e in errors.iter_mut().filter(|e| e.position.is_none()) {
            let mut path = e.path.as_str();
            loop {
                if let Some(&off) = offsets.get(path) {
                    e.position = Some(Position::locate(source, off));
                    break;
                }
                match path.rfind('/') {
                    Some(i) => path = &path[..i],
                    None => break,
                }
            }
        }
    }
}

/// A parsed message and where its fields were.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The message.
    pub message: Message,
    /// Field positions.
    pub source_map: SourceMap,
}

/// Parses an edXML document or status message.
///
/// This checks structure and field syntax. Cross-field rules (recipients,
/// `DocumentId` consistency, manifest against attachments, ...) are
/// [`crate::validate`]'s.
pub fn parse(bytes: &[u8], limits: &ParseLimits) -> Result<Parsed, ParseError> {
    let doc = XmlDocument::parse(bytes, &limits.xml)?;
    parse_dom(&doc, limits)
}

/// Builds the model from an already parsed XML tree (the verifier parses
/// once and uses the tree for both the model and the signature).
pub fn parse_dom(doc: &XmlDocument<'_>, limits: &ParseLimits) -> Result<Parsed, ParseError> {
    // First without field paths (the common case: a valid message); only a
    // message with problems is read again to name each problem's path.
    let fast = Cx::run(doc, limits, false);
    match fast.message {
        Some(message) if fast.errors.is_empty() => Ok(Parsed {
            message,
            source_map: SourceMap { limits: *limits },
        }),
        _ => Err(ParseError::Invalid(Cx::run(doc, limits, true).errors)),
    }
}

/// The parse state: where errors go and where positions are recorded.
struct Cx<'s, 'l> {
    source: &'s [u8],
    limits: &'l ParseLimits,
    errors: Vec<FieldError>,
    /// Whether field paths are built and their offsets recorded. Off, every
    /// path is the empty string and nothing is allocated for it; errors are
    /// still detected (and the caller reads again with paths on).
    track: bool,
    offsets: HashMap<String, usize>,
}

/// What one reading of a message gives.
struct Outcome {
    message: Option<Message>,
    errors: Vec<FieldError>,
    offsets: HashMap<String, usize>,
}

/// The children of one element, grouped by local name, with the element's
/// path for error messages.
struct Fields<'d, 'a> {
    path: String,
    offset: usize,
    by_name: Vec<(&'d str, &'d Element<'a>)>,
}

fn is_edxml(e: &Element<'_>) -> bool {
    e.ns.as_deref() == Some(EDXML_NS)
}

impl<'s, 'l> Cx<'s, 'l> {
    fn run(doc: &'s XmlDocument<'_>, limits: &'l ParseLimits, track: bool) -> Outcome {
        let mut cx = Cx {
            source: doc.source(),
            limits,
            errors: Vec::new(),
            track,
            offsets: HashMap::new(),
        };
        let message = cx.message(&doc.root);
        Outcome {
            message,
            errors: cx.errors,
            offsets: cx.offsets,
        }
    }

    /// The path of child `name` of `parent` (empty when not tracking).
    fn join(&self, parent: &str, name: &str) -> String {
        if !self.track {
            String::new()
        } else if parent.is_empty() {
            name.to_owned()
        } else {
            format!("{parent}/{name}")
        }
    }

    fn record(&mut self, path: &str, offset: usize) {
        if self.track {
            self.offsets.insert(path.to_owned(), offset);
        }
    }

    fn error(&mut self, path: &str, offset: usize, message: impl Into<String>) {
        self.errors.push(FieldError {
            path: path.to_owned(),
            message: message.into(),
            position: Some(Position::locate(self.source, offset)),
        });
    }

    /// Groups `e`'s children, refusing any in a foreign namespace (except
    /// where `allow_signature` lets the header carry an XML-DSig element).
    fn fields<'d, 'a>(&mut self, e: &'d Element<'a>, path: String) -> Fields<'d, 'a> {
        self.record(&path, e.offset);
        // Sized once (text nodes make it a little large) rather than grown
        // by doubling: a verify reads some fifteen such groups.
        let mut by_name = Vec::with_capacity(e.children.len());
        for child in e.elements() {
            let signature = child.local == "Signature"
                && matches!(child.ns.as_deref(), Some(DSIG_NS) | Some(EDXML_NS) | None);
            if is_edxml(child) || signature {
                by_name.push((child.local, child));
            } else {
                let ns = child.ns.as_deref().unwrap_or("no namespace");
                self.error(
                    &self.join(&path, child.local),
                    child.offset,
                    format!(
                        "element <{}> is in {ns}; edXML elements must be in the namespace {EDXML_NS}",
                        child.qname()
                    ),
                );
            }
        }
        Fields {
            path,
            offset: e.offset,
            by_name,
        }
    }

    /// The single child `name`, if present; an error if it appears twice.
    fn optional<'d, 'a>(&mut self, f: &Fields<'d, 'a>, name: &str) -> Option<&'d Element<'a>> {
        let mut found = f
            .by_name
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, e)| *e);
        let first = found.next()?;
        let path = self.join(&f.path, name);
        if let Some(second) = found.next() {
            self.error(
                &path,
                second.offset,
                format!("{name} appears more than once; give it exactly once"),
            );
        }
        self.record(&path, first.offset);
        Some(first)
    }

    /// The single child `name`; an error if missing or repeated.
    fn required<'d, 'a>(&mut self, f: &Fields<'d, 'a>, name: &str) -> Option<&'d Element<'a>> {
        let found = self.optional(f, name);
        if found.is_none() {
            self.error(
                &self.join(&f.path, name),
                f.offset,
                format!("mandatory element {name} is missing from {}", f.path),
            );
        }
        found
    }

    /// Every child `name`, with its numbered path.
    fn repeated<'d, 'a>(
        &mut self,
        f: &Fields<'d, 'a>,
        name: &str,
    ) -> Vec<(String, &'d Element<'a>)> {
        let items: Vec<_> = f
            .by_name
            .iter()
            .filter(|(n, _)| *n == name)
            .enumerate()
            .map(|(i, (_, e))| {
                let path = if self.track {
                    format!("{}/{name}[{}]", f.path, i + 1)
                } else {
                    String::new()
                };
                (path, *e)
            })
            .collect();
        for (path, e) in &items {
            self.record(path, e.offset);
        }
        items
    }

    /// A leaf's text: no child elements allowed.
    fn leaf<'a>(&mut self, e: &Element<'a>, path: &str) -> Cow<'a, str> {
        if let Some(child) = e.elements().next() {
            self.error(
                path,
                child.offset,
                format!("expected text, found element <{}>", child.qname()),
            );
        }
        e.text()
    }

    fn text_opt(&mut self, f: &Fields<'_, '_>, name: &str) -> Option<String> {
        let e = self.optional(f, name)?;
        Some(self.leaf(e, &self.join(&f.path, name)).into_owned())
    }

    /// Mandatory element whose text may be empty.
    fn text(&mut self, f: &Fields<'_, '_>, name: &str) -> String {
        match self.required(f, name) {
            Some(e) => self.leaf(e, &self.join(&f.path, name)).into_owned(),
            None => String::new(),
        }
    }

    /// Mandatory, non-empty, trimmed value parsed by `parse`.
    fn value<T, E: std::fmt::Display>(
        &mut self,
        f: &Fields<'_, '_>,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<T> {
        let e = self.required(f, name)?;
        self.parse_leaf(e, &self.join(&f.path, name), parse)
    }

    /// Optional value: absent or empty gives `None`.
    fn value_opt<T, E: std::fmt::Display>(
        &mut self,
        f: &Fields<'_, '_>,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<T> {
        let e = self.optional(f, name)?;
        let path = self.join(&f.path, name);
        if self.leaf(e, &path).trim().is_empty() {
            return None;
        }
        self.parse_leaf(e, &path, parse)
    }

    fn parse_leaf<T, E: std::fmt::Display>(
        &mut self,
        e: &Element<'_>,
        path: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<T> {
        let text = self.leaf(e, path);
        let trimmed = text.trim();
        if trimmed.is_empty() {
            self.error(path, e.offset, "is empty; a value is required");
            return None;
        }
        match parse(trimmed) {
            Ok(v) => Some(v),
            Err(err) => {
                self.error(path, e.offset, err.to_string());
                None
            }
        }
    }

    fn child_fields<'d, 'a>(&mut self, f: &Fields<'d, 'a>, name: &str) -> Option<Fields<'d, 'a>> {
        let e = self.required(f, name)?;
        Some(self.fields(e, self.join(&f.path, name)))
    }

    fn message(&mut self, root: &Element<'_>) -> Option<Message> {
        if !is_edxml(root) {
            self.error(
                root.local,
                root.offset,
                format!(
                    "the root element <{}> is not in the edXML namespace {EDXML_NS}",
                    root.qname()
                ),
            );
            return None;
        }
        let (envelope, outer) = match root.local {
            "edXML" => {
                let outer = self.fields(root, String::new());
                (self.required(&outer, "edXMLEnvelope")?, Some(outer))
            }
            "edXMLEnvelope" => (root, None),
            other => {
                self.error(
                    other,
                    root.offset,
                    "the root element must be edXML (or edXMLEnvelope)",
                );
                return None;
            }
        };
        let env = self.fields(envelope, "edXMLEnvelope".into());
        let header_el = self.required(&env, "edXMLHeader")?;
        let header = self.fields(header_el, String::new());
        let mh = self.required(&header, "MessageHeader");
        let mh = mh.map(|e| self.fields(e, "MessageHeader".into()))?;
        let trace = self.trace_list(&header);
        let signature = self
            .optional(&header, "Signature")
            .and_then(|s| self.signature(s));

        if mh.by_name.iter().any(|(n, _)| *n == "StatusCode") {
            let status = self.status(&mh, trace?, signature);
            return status.map(|s| Message::Status(Box::new(s)));
        }

        let header = self.message_header(&mh);
        let manifest = match self.optional(&env, "edXMLBody") {
            Some(body) => {
                let body = self.fields(body, "edXMLBody".into());
                self.manifest(&body)
            }
            None => {
                self.error(
                    "edXMLBody",
                    envelope.offset,
                    "mandatory element edXMLBody is missing",
                );
                None
            }
        };
        let attachments = match &outer {
            Some(outer) => self.attachments(outer),
            None => Vec::new(),
        };
        Some(Message::Document(Box::new(Document {
            header: header?,
            trace: trace?,
            signature,
            manifest: manifest?,
            attachments,
        })))
    }

    fn organization(&mut self, f: &Fields<'_, '_>, lenient: bool) -> Option<Organization> {
        let organ_id = self.value(f, "OrganId", OrganId::parse);
        let organ_name = self.text(f, "OrganName");
        // From must carry every child; To only needs OrganId and OrganName.
        let other = |cx: &mut Self, name: &str| {
            if lenient {
                cx.text_opt(f, name).unwrap_or_default()
            } else {
                cx.text(f, name)
            }
        };
        let organization_in_charge = other(self, "OrganizationInCharge");
        let organ_add = other(self, "OrganAdd");
        let email = other(self, "Email");
        let telephone = other(self, "Telephone");
        let fax = other(self, "Fax");
        let website = other(self, "Website");
        Some(Organization {
            organ_id: organ_id?,
            organization_in_charge,
            organ_name,
            organ_add,
            email,
            telephone,
            fax,
            website,
        })
    }

    fn message_header(&mut self, mh: &Fields<'_, '_>) -> Option<MessageHeader> {
        let from = self
            .child_fields(mh, "From")
            .and_then(|f| self.organization(&f, false));
        let mut to = Vec::new();
        let mut to_ok = true;
        for (path, e) in self.repeated(mh, "To") {
            let f = self.fields(e, path);
            match self.organization(&f, true) {
                Some(o) => to.push(o),
                None => to_ok = false,
            }
        }
        let document_id = self.text(mh, "DocumentId").trim().to_owned();
        let code = self.child_fields(mh, "Code").map(|f| Code {
            code_number: self.text(&f, "CodeNumber").trim().to_owned(),
            code_notation: self.text(&f, "CodeNotation").trim().to_owned(),
        });
        let promulgation_info = self.child_fields(mh, "PromulgationInfo").and_then(|f| {
            let place = self.text(&f, "Place");
            let date = self.value(&f, "PromulgationDate", EdDate::parse)?;
            Some(PromulgationInfo {
                place,
                promulgation_date: date,
            })
        });
        let document_type = self.child_fields(mh, "DocumentType").map(|f| DocumentType {
            doc_type: self.text(&f, "Type").trim().to_owned(),
            type_detail: self
                .text_opt(&f, "TypeDetail")
                .unwrap_or_default()
                .trim()
                .to_owned(),
            type_name: self.text(&f, "TypeName"),
        });
        let subject = self.text(mh, "Subject");
        let content = self.text(mh, "Content");
        let signer_info = self.child_fields(mh, "SignerInfo").map(|f| SignerInfo {
            competence: self.text(&f, "Competence"),
            position: self.text(&f, "Position"),
            full_name: self.text(&f, "FullName"),
        });
        let due_date = match self.required(mh, "DueDate") {
            Some(e) => {
                let path = "MessageHeader/DueDate";
                if self.leaf(e, path).trim().is_empty() {
                    None
                } else {
                    self.parse_leaf(e, path, EdDate::parse)
                }
            }
            None => None,
        };
        let other_info = self
            .child_fields(mh, "OtherInfo")
            .and_then(|f| self.other_info(&f));
        let steering_type = self.text_opt(mh, "SteeringType");
        let to_places = self.child_fields(mh, "ToPlaces").map(|f| {
            self.repeated(&f, "Place")
                .into_iter()
                .map(|(path, e)| self.leaf(e, &path).into_owned())
                .collect()
        });
        let response_for = match self.optional(mh, "ResponseFor") {
            Some(e) => {
                let f = self.fields(e, "MessageHeader/ResponseFor".into());
                Some(self.response_for(&f)?)
            }
            None => None,
        };
        if !to_ok {
            return None;
        }
        Some(MessageHeader {
            from: from?,
            to,
            document_id,
            code: code?,
            promulgation_info: promulgation_info?,
            document_type: document_type?,
            subject,
            content,
            signer_info: signer_info?,
            due_date,
            other_info: other_info?,
            steering_type,
            to_places: to_places?,
            response_for,
        })
    }

    fn other_info(&mut self, f: &Fields<'_, '_>) -> Option<OtherInfo> {
        let priority = self.value(f, "Priority", Priority::parse);
        let sphere_of_promulgation = self.text(f, "SphereOfPromulgation");
        let typer_notation = self.text(f, "TyperNotation");
        let promulgation_amount = self
            .value_opt(f, "PromulgationAmount", parse_count)
            .unwrap_or(0);
        let page_amount = self.value_opt(f, "PageAmount", parse_count).unwrap_or(0);
        let direction = self.text_opt(f, "Direction");
        let appendixes = match self.optional(f, "Appendixes") {
            Some(e) => {
                let af = self.fields(e, self.join(&f.path, "Appendixes"));
                self.repeated(&af, "Appendix")
                    .into_iter()
                    .map(|(path, e)| self.leaf(e, &path).into_owned())
                    .collect()
            }
            None => Vec::new(),
        };
        Some(OtherInfo {
            priority: priority?,
            sphere_of_promulgation,
            typer_notation,
            promulgation_amount,
            page_amount,
            direction,
            appendixes,
        })
    }

    fn response_for(&mut self, f: &Fields<'_, '_>) -> Option<ResponseFor> {
        let organ_id = self.value(f, "OrganId", OrganId::parse);
        let code = self.text(f, "Code").trim().to_owned();
        let promulgation_date = self.value(f, "PromulgationDate", EdDate::parse);
        let document_id = self.text(f, "DocumentId").trim().to_owned();
        Some(ResponseFor {
            organ_id: organ_id?,
            code,
            promulgation_date: promulgation_date?,
            document_id,
        })
    }

    fn trace_list(&mut self, header: &Fields<'_, '_>) -> Option<TraceHeaderList> {
        let f = self.child_fields(header, "TraceHeaderList")?;
        let mut trace_headers = Vec::new();
        let mut ok = true;
        for (path, e) in self.repeated(&f, "TraceHeader") {
            let th = self.fields(e, path);
            let organ_id = self.value(&th, "OrganId", OrganId::parse);
            let timestamp = self.value(&th, "Timestamp", EdTimestamp::parse);
            match (organ_id, timestamp) {
                (Some(organ_id), Some(timestamp)) => trace_headers.push(TraceHeader {
                    organ_id,
                    timestamp,
                }),
                _ => ok = false,
            }
        }
        if trace_headers.is_empty() && ok {
            self.error(
                &f.path,
                f.offset,
                "at least one TraceHeader (OrganId, Timestamp) is required",
            );
            ok = false;
        }
        let business = match self.optional(&f, "Bussiness") {
            Some(e) => {
                let bf = self.fields(e, self.join(&f.path, "Bussiness"));
                self.business(&bf)
            }
            None => None,
        };
        ok.then_some(TraceHeaderList {
            trace_headers,
            business,
        })
    }

    fn business(&mut self, f: &Fields<'_, '_>) -> Option<Business> {
        let document_id = self.text_opt(f, "DocumentId").map(|s| s.trim().to_owned());
        let doc_type = self.value(f, "BussinessDocType", BusinessDocType::parse);
        let reason = self.text_opt(f, "BussinessDocReason").unwrap_or_default();
        let paper = self.text_opt(f, "Paper");
        let staff_info = match self.optional(f, "StaffInfo") {
            Some(e) => {
                let sf = self.fields(e, self.join(&f.path, "StaffInfo"));
                Some(self.staff_info(&sf))
            }
            None => None,
        };
        let mut replacements = Vec::new();
        if let Some(e) = self.optional(f, "ReplacementInfoList") {
            let lf = self.fields(e, self.join(&f.path, "ReplacementInfoList"));
            for (path, e) in self.repeated(&lf, "ReplacementInfo") {
                let rf = self.fields(e, path);
                let document_id = self.text(&rf, "DocumentId").trim().to_owned();
                let mut organ_ids = Vec::new();
                if let Some(e) = self.optional(&rf, "OrganIdList") {
                    let of = self.fields(e, self.join(&rf.path, "OrganIdList"));
                    for (path, e) in self.repeated(&of, "OrganId") {
                        if let Some(id) = self.parse_leaf(e, &path, OrganId::parse) {
                            organ_ids.push(id);
                        }
                    }
                }
                replacements.push(ReplacementInfo {
                    document_id,
                    organ_ids,
                });
            }
        }
        let mut receivers = Vec::new();
        if let Some(e) = self.optional(f, "ReceiverList") {
            let lf = self.fields(e, self.join(&f.path, "ReceiverList"));
            for (path, e) in self.repeated(&lf, "Receiver") {
                let rf = self.fields(e, path);
                let receiver_type = self.text_opt(&rf, "ReceiverType").unwrap_or_default();
                if let Some(organ_id) = self.value(&rf, "OrganId", OrganId::parse) {
                    receivers.push(Receiver {
                        receiver_type,
                        organ_id,
                    });
                }
            }
        }
        Some(Business {
            document_id,
            doc_type: doc_type?,
            reason,
            paper,
            staff_info,
            replacements,
            receivers,
        })
    }

    fn staff_info(&mut self, f: &Fields<'_, '_>) -> StaffInfo {
        StaffInfo {
            department: self.text_opt(f, "Department").unwrap_or_default(),
            staff: self.text_opt(f, "Staff").unwrap_or_default(),
            mobile: self.text_opt(f, "Mobile").unwrap_or_default(),
            email: self.text_opt(f, "Email").unwrap_or_default(),
        }
    }

    fn status(
        &mut self,
        mh: &Fields<'_, '_>,
        trace: TraceHeaderList,
        signature: Option<SignatureInfo>,
    ) -> Option<StatusMessage> {
        let from = self
            .child_fields(mh, "From")
            .and_then(|f| self.organization(&f, true));
        let response_for = self
            .child_fields(mh, "ResponseFor")
            .and_then(|f| self.response_for(&f));
        let staff_info = match self.optional(mh, "StaffInfo") {
            Some(e) => {
                let sf = self.fields(e, "MessageHeader/StaffInfo".into());
                Some(self.staff_info(&sf))
            }
            None => None,
        };
        let status_code = self.value(mh, "StatusCode", StatusCode::parse);
        let description = self.text_opt(mh, "Description").unwrap_or_default();
        let timestamp = self.value(mh, "Timestamp", EdTimestamp::parse);
        Some(StatusMessage {
            from: from?,
            response_for: response_for?,
            staff_info,
            status_code: status_code?,
            description,
            timestamp: timestamp?,
            trace,
            signature,
        })
    }

    /// Reads the `Signature` element's fields. Its children are in the
    /// Signature's own namespace, whatever that is.
    fn signature(&mut self, sig: &Element<'_>) -> Option<SignatureInfo> {
        let ns = sig.ns.as_deref();
        let algorithm = |e: &Element<'_>| e.attr("Algorithm").unwrap_or("").to_owned();
        let signed_info = self.dsig_child(sig, ns, "SignedInfo", "Signature")?;
        let si = "Signature/SignedInfo";
        let c14n = self.dsig_child(signed_info, ns, "CanonicalizationMethod", si);
        let method = self.dsig_child(signed_info, ns, "SignatureMethod", si);
        let mut references = Vec::new();
        for r in signed_info
            .elements()
            .filter(|c| c.local == "Reference" && c.ns.as_deref() == ns)
        {
            let at = "Signature/SignedInfo/Reference";
            let transforms = r
                .elements()
                .filter(|c| c.local == "Transforms")
                .flat_map(|t| t.elements().filter(|c| c.local == "Transform"))
                .map(algorithm)
                .collect();
            let digest_method = self.dsig_child(r, ns, "DigestMethod", at);
            let digest_value = self.dsig_child(r, ns, "DigestValue", at);
            references.push(SignatureReference {
                uri: r.attr("URI").map(str::to_owned),
                transforms,
                digest_method: digest_method.map(algorithm).unwrap_or_default(),
                digest_value: digest_value
                    .map(|d| d.text().trim().to_owned())
                    .unwrap_or_default(),
            });
        }
        let value = self.dsig_child(sig, ns, "SignatureValue", "Signature");
        let key_name = dsig_find(sig, ns, "KeyInfo")
            .next()
            .and_then(|ki| dsig_find(ki, ns, "KeyName").next())
            .map(|k| k.text().trim().to_owned());
        Some(SignatureInfo {
            canonicalization_method: c14n.map(algorithm).unwrap_or_default(),
            signature_method: method.map(algorithm).unwrap_or_default(),
            references,
            signature_value: value
                .map(|v| v.text().trim().to_owned())
                .unwrap_or_default(),
            key_name,
        })
    }

    /// The one child `name` of a signature element; an error if missing or
    /// repeated.
    fn dsig_child<'d, 'a>(
        &mut self,
        e: &'d Element<'a>,
        ns: Option<&str>,
        name: &str,
        at: &str,
    ) -> Option<&'d Element<'a>> {
        let mut found = dsig_find(e, ns, name);
        let first = found.next();
        match (first, found.next()) {
            (None, _) => self.error(
                &format!("{at}/{name}"),
                e.offset,
                format!("{name} is missing"),
            ),
            (Some(_), Some(second)) => self.error(
                &format!("{at}/{name}"),
                second.offset,
                format!("{name} appears more than once"),
            ),
            _ => {}
        }
        first
    }

    fn manifest(&mut self, body: &Fields<'_, '_>) -> Option<Manifest> {
        let e = self.required(body, "edXMLManifest")?;
        let f = self.fields(e, "edXMLManifest".into());
        let version = e.attr("version").unwrap_or("1.0").to_owned();
        let references = self
            .repeated(&f, "Reference")
            .into_iter()
            .map(|(path, e)| {
                let rf = self.fields(e, path);
                ManifestReference {
                    content_id: self.text(&rf, "ContentId").trim().to_owned(),
                    content_type: self.text_opt(&rf, "ContentType").unwrap_or_default(),
                    description: self.text_opt(&rf, "Description").unwrap_or_default(),
                    attachment_name: self.text(&rf, "AttachmentName"),
                }
            })
            .collect();
        Some(Manifest {
            version,
            references,
        })
    }

    fn attachments(&mut self, outer: &Fields<'_, '_>) -> Vec<Attachment> {
        let Some(e) = self.optional(outer, "AttachmentEncoded") else {
            return Vec::new();
        };
        let f = self.fields(e, "AttachmentEncoded".into());
        let items = self.repeated(&f, "Attachment");
        if items.len() > self.limits.max_attachments {
            self.error(
                "AttachmentEncoded",
                e.offset,
                format!(
                    "{} attachments, more than the limit of {}",
                    items.len(),
                    self.limits.max_attachments
                ),
            );
            return Vec::new();
        }
        let mut out = Vec::with_capacity(items.len());
        for (path, e) in items {
            let af = self.fields(e, path.clone());
            let content_id = self.text(&af, "ContentId").trim().to_owned();
            let attachment_name = self.text(&af, "AttachmentName");
            let description = self.text_opt(&af, "Description").unwrap_or_default();
            let content_type = self.text_opt(&af, "ContentType").unwrap_or_default();
            let Some(data) = self.required(&af, "ContentTransferEncoded") else {
                continue;
            };
            let data_path = self.join(&path, "ContentTransferEncoded");
            let text = self.leaf(data, &data_path);
            match decode_base64(&text, self.limits.max_attachment_bytes) {
                Ok(content) => out.push(Attachment {
                    content_id,
                    attachment_name,
                    description,
                    content_type,
                    content,
                }),
                Err(msg) => self.error(&data_path, data.offset, msg),
            }
        }
        out
    }
}

fn dsig_find<'d, 'a, 'n>(
    e: &'d Element<'a>,
    ns: Option<&'n str>,
    name: &'n str,
) -> impl Iterator<Item = &'d Element<'a>> + 'n
where
    'd: 'n,
{
    e.elements()
        .filter(move |c| c.local == name && c.ns.as_deref() == ns)
}

fn parse_count(s: &str) -> Result<u32, String> {
    s.parse()
        .map_err(|_| format!("{s:?} is not a whole number"))
}

/// Whether `bytes` hold ASCII white space. A branch-free test over 64-byte
/// chunks, which the compiler vectorizes: an early-exit byte loop cost ~6
/// instructions per byte, as much as decoding a megabyte attachment.
fn has_ascii_whitespace(bytes: &[u8]) -> bool {
    bytes.chunks(64).any(|chunk| {
        chunk
            .iter()
            .fold(false, |found, &b| found | b.is_ascii_whitespace())
    })
}

/// Decodes base64 that may be wrapped in lines (as MIME writers do),
/// refusing it before decoding if it would exceed `max` bytes.
fn decode_base64(text: &str, max: usize) -> Result<Vec<u8>, String> {
    let bytes = text.as_bytes();
    let cleaned: Cow<'_, [u8]> = if has_ascii_whitespace(bytes) {
        // Wrapped lines: copy the runs between white space whole (a
        // megabyte attachment is ~18,000 lines; collecting it character by
        // character cost as much as decoding it).
        let mut joined = Vec::with_capacity(bytes.len());
        for run in bytes.split(u8::is_ascii_whitespace) {
            joined.extend_from_slice(run);
        }
        Cow::Owned(joined)
    } else {
        Cow::Borrowed(bytes)
    };
    let decoded_len = cleaned.len() / 4 * 3;
    if decoded_len > max {
        return Err(format!(
            "attachment is about {decoded_len} bytes, more than the limit of {max} bytes"
        ));
    }
    decode_standard(&cleaned).ok_or_else(|| "is not valid base64".to_string())
}

/// Standard base64 with padding, strict (no white space, canonical trailing
/// bits), decoded with SIMD (base64-simd). The scalar decoder of the
/// `base64` crate was a sixth of the instructions of verifying a document
/// with a megabyte attachment. Tested equal to that strict decoder, which
/// the rest of docaxis uses, on valid, mutated and arbitrary input.
fn decode_standard(b64: &[u8]) -> Option<Vec<u8>> {
    base64_simd::STANDARD.decode_to_vec(b64).ok()
}

#[cfg(test)]
mod tests {
    use super::decode_standard;
    use base64::Engine;
    use proptest::prelude::*;

    fn scalar(b: &[u8]) -> Option<Vec<u8>> {
        base64::engine::general_purpose::STANDARD.decode(b).ok()
    }

    const ALPHABET: &[u8] =
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ \n.";

    proptest! {
        /// Valid encodings of random bytes, one byte of them possibly
        /// replaced: both decoders accept and refuse alike, with the same
        /// bytes.
        #[test]
        fn simd_base64_agrees_on_encodings(
            bytes in proptest::collection::vec(any::<u8>(), 0..300),
            at in any::<usize>(),
            with in 0..ALPHABET.len(),
            mutate in any::<bool>(),
        ) {
            let mut enc = base64::engine::general_purpose::STANDARD.encode(&bytes).into_bytes();
            if mutate && !enc.is_empty() {
                let i = at % enc.len();
                enc[i] = ALPHABET[with];
            }
            prop_assert_eq!(decode_standard(&enc), scalar(&enc));
        }

        /// Arbitrary strings over the alphabet: padding, trailing bits and
        /// lengths of every kind.
        #[test]
        fn simd_base64_agrees_on_arbitrary_text(picks in proptest::collection::vec(0..ALPHABET.len(), 0..48)) {
            let s: Vec<u8> = picks.iter().map(|&i| ALPHABET[i]).collect();
            prop_assert_eq!(decode_standard(&s), scalar(&s));
        }
    }

    #[test]
    fn simd_base64_agrees_on_edge_cases() {
        for case in [
            "", "QQ==", "QR==", "QUI=", "QUJ=", "QUJD", "Q===", "QQ=", "QQ", "=QQ=", "QUJD\n",
            "QU=D",
        ] {
            assert_eq!(
                decode_standard(case.as_bytes()),
                scalar(case.as_bytes()),
                "{case:?}"
            );
        }
    }
}
