//! The few fields the tracker reads from a signed edXML message, read by
//! streaming through its header, without building the message's model.
//!
//! # Why not the full parser
//!
//! [`docaxis_edxml::parse`] builds the whole tree and model (subject,
//! content, organisations, manifest, attachments...) and checks every
//! field; at ≈4 tap copies per delivery that cost more than everything
//! else the tracker does per event. The tracker needs, from the XML, only
//! what the envelope cannot tell it (the envelope gives the kind, the
//! sending agency, which the broker authenticates, and the recipients):
//!
//! * a document: `MessageHeader/DocumentId`, `MessageHeader/OtherInfo/
//!   Priority` and the first `TraceHeader/Timestamp` (when it was sent);
//! * a status: `ResponseFor/DocumentId`, `ResponseFor/OrganId`,
//!   `StatusCode`, `Description` and `Timestamp`;
//! * both: `MessageHeader/From/OrganId` (only compared with the envelope).
//!
//! All of them are in `edXMLHeader`, which comes before the body (and the
//! attachments) in every message, so reading stops at `</edXMLHeader>`.
//!
//! # What is checked, what is not
//!
//! Every field read is checked as the full parser checks it: the element
//! is in the edXML namespace at its place, appears once, holds text only,
//! and its value parses (`OrganId`, `Priority`, `StatusCode`, timestamps);
//! entities other than the five predefined ones and character references,
//! a DTD, bad UTF-8, unbalanced tags and nesting deeper than
//! [`MAX_DEPTH`] are refused. Every `TraceHeader` is checked, and at least
//! one is required. What the tracker does not read (the subject, the body,
//! the signature) is not checked: the recipients' adapters do that and
//! answer a bad message with a 02 status, which the tracker counts. So on a
//! message the full parser accepts, [`extract`] gives the same fields (the
//! tests compare the two); a message it refuses is refused by the full
//! parser too (the fields it reads are wrong), never the reverse for the
//! fields both read.

use std::borrow::Cow;

use docaxis_edxml::{EdTimestamp, OrganId, Priority, StatusCode, DSIG_NS, EDXML_NS};
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

/// Deepest nesting accepted (the edXML header is 5 levels deep; the
/// signature inside it a few more).
pub const MAX_DEPTH: usize = 64;

/// Why a payload was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ExtractError(pub String);

fn refuse<T>(msg: impl Into<String>) -> Result<T, ExtractError> {
    Err(ExtractError(msg.into()))
}

/// What [`extract`] read from a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Extracted {
    /// A document.
    Document {
        /// `MessageHeader/From/OrganId`.
        from: String,
        /// `MessageHeader/DocumentId`, trimmed.
        document_id: String,
        /// `OtherInfo/Priority` code, 0–4.
        priority: u8,
        /// The first `TraceHeader/Timestamp`, Unix seconds.
        sent_at: i64,
    },
    /// A status message.
    Status {
        /// `MessageHeader/From/OrganId`.
        from: String,
        /// `ResponseFor/DocumentId`, trimmed.
        document_id: String,
        /// `ResponseFor/OrganId`.
        original_sender: String,
        /// `StatusCode` as a number.
        code: u8,
        /// `Description` (as written; empty when absent).
        description: String,
        /// `Timestamp`, Unix seconds.
        at: i64,
    },
}

/// The leaves read, by their path below `edXMLHeader`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leaf {
    DocumentId,
    StatusCode,
    Description,
    Timestamp,
    FromOrganId,
    Priority,
    ResponseOrganId,
    ResponseDocumentId,
    TraceOrganId,
    TraceTimestamp,
}

/// Where below `edXMLHeader` the reader is (edXML elements only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// `edXML` (the envelope and its attachments).
    Root,
    /// `edXMLEnvelope`.
    Envelope,
    /// `edXMLHeader`.
    Header,
    MessageHeader,
    From,
    OtherInfo,
    ResponseFor,
    TraceList,
    TraceHeader,
    /// Inside a leaf that is read.
    Leaf(Leaf),
    /// Inside something not read (its content is skipped).
    Skip,
}

/// One value per leaf, `Some` once seen (a second one is refused).
#[derive(Default)]
struct Seen {
    document_id: Option<String>,
    status_code: Option<String>,
    description: Option<String>,
    timestamp: Option<String>,
    from_organ_id: Option<String>,
    priority: Option<String>,
    response_organ_id: Option<String>,
    response_document_id: Option<String>,
    envelope: bool,
    header: bool,
    from: bool,
    other_info: bool,
    response_for: bool,
    trace_list: bool,
    message_header: bool,
    /// Per TraceHeader: OrganId and Timestamp texts.
    trace: Vec<(Option<String>, Option<String>)>,
}

impl Seen {
    fn slot(&mut self, leaf: Leaf) -> &mut Option<String> {
        match leaf {
            Leaf::DocumentId => &mut self.document_id,
            Leaf::StatusCode => &mut self.status_code,
            Leaf::Description => &mut self.description,
            Leaf::Timestamp => &mut self.timestamp,
            Leaf::FromOrganId => &mut self.from_organ_id,
            Leaf::Priority => &mut self.priority,
            Leaf::ResponseOrganId => &mut self.response_organ_id,
            Leaf::ResponseDocumentId => &mut self.response_document_id,
            Leaf::TraceOrganId => &mut self.trace.last_mut().expect("inside a TraceHeader").0,
            Leaf::TraceTimestamp => &mut self.trace.last_mut().expect("inside a TraceHeader").1,
        }
    }
}

fn leaf_name(leaf: Leaf) -> &'static str {
    match leaf {
        Leaf::DocumentId | Leaf::ResponseDocumentId => "DocumentId",
        Leaf::StatusCode => "StatusCode",
        Leaf::Description => "Description",
        Leaf::Timestamp | Leaf::TraceTimestamp => "Timestamp",
        Leaf::FromOrganId | Leaf::ResponseOrganId | Leaf::TraceOrganId => "OrganId",
        Leaf::Priority => "Priority",
    }
}

/// The place of a child `local` (in the edXML namespace) of `parent`.
fn child(parent: Place, local: &[u8]) -> Place {
    use Place::*;
    match (parent, local) {
        (Header, b"MessageHeader") => MessageHeader,
        (Header, b"TraceHeaderList") => TraceList,
        (MessageHeader, b"DocumentId") => Leaf(self::Leaf::DocumentId),
        (MessageHeader, b"StatusCode") => Leaf(self::Leaf::StatusCode),
        (MessageHeader, b"Description") => Leaf(self::Leaf::Description),
        (MessageHeader, b"Timestamp") => Leaf(self::Leaf::Timestamp),
        (MessageHeader, b"From") => From,
        (MessageHeader, b"OtherInfo") => OtherInfo,
        (MessageHeader, b"ResponseFor") => ResponseFor,
        (From, b"OrganId") => Leaf(self::Leaf::FromOrganId),
        (OtherInfo, b"Priority") => Leaf(self::Leaf::Priority),
        (ResponseFor, b"OrganId") => Leaf(self::Leaf::ResponseOrganId),
        (ResponseFor, b"DocumentId") => Leaf(self::Leaf::ResponseDocumentId),
        (TraceList, b"TraceHeader") => TraceHeader,
        (TraceHeader, b"OrganId") => Leaf(self::Leaf::TraceOrganId),
        (TraceHeader, b"Timestamp") => Leaf(self::Leaf::TraceTimestamp),
        _ => Skip,
    }
}

/// The five predefined entities and character references (as the
/// hardened XML parser resolves them), nothing else.
fn reference(name: &str) -> Result<char, ExtractError> {
    let ch = if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix('x') {
            Some(hex) if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
                u32::from_str_radix(hex, 16).ok()
            }
            None if !num.is_empty() && num.bytes().all(|b| b.is_ascii_digit()) => num.parse().ok(),
            _ => None,
        };
        code.and_then(char::from_u32).filter(|&c| {
            matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
        })
    } else {
        match name {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => None,
        }
    };
    ch.ok_or_else(|| ExtractError(format!("&{name}; is not a predefined entity or character")))
}

fn normalize_line_ends(text: Cow<'_, str>) -> Cow<'_, str> {
    if !text.contains('\r') {
        return text;
    }
    Cow::Owned(text.replace("\r\n", "\n").replace('\r', "\n"))
}

fn is_edxml(ns: &ResolveResult<'_>) -> bool {
    matches!(ns, ResolveResult::Bound(n) if n.as_ref() == EDXML_NS.as_bytes())
}

/// Read the tracker's fields from `payload` (see the module docs).
pub fn extract(payload: &[u8]) -> Result<Extracted, ExtractError> {
    let text = std::str::from_utf8(payload)
        .map_err(|e| ExtractError(format!("not UTF-8 (at byte {})", e.valid_up_to())))?;
    let mut reader = NsReader::from_str(text);
    let config = reader.config_mut();
    config.expand_empty_elements = false;
    config.check_end_names = true;
    config.check_comments = true;
    config.trim_text(false);

    // The places of the open elements.
    let mut stack: Vec<Place> = Vec::new();
    let mut seen = Seen::default();
    let mut text_buf = String::new();
    loop {
        let (ns, event) = reader
            .read_resolved_event()
            .map_err(|e| ExtractError(format!("malformed XML: {e}")))?;
        if let ResolveResult::Unknown(p) = &ns {
            return refuse(format!(
                "undeclared namespace prefix {:?}",
                String::from_utf8_lossy(p)
            ));
        }
        match event {
            Event::Start(_) | Event::Empty(_) if stack.len() >= MAX_DEPTH => {
                return refuse(format!("nested deeper than {MAX_DEPTH} elements"));
            }
            Event::Start(e) => {
                let place = open(&stack, &ns, &e, &mut seen)?;
                stack.push(place);
                if let Place::Leaf(_) = place {
                    text_buf.clear();
                }
            }
            Event::Empty(e) => {
                if let Place::Leaf(leaf) = open(&stack, &ns, &e, &mut seen)? {
                    store(&mut seen, leaf, String::new())?;
                }
            }
            Event::End(_) => match stack.pop() {
                Some(Place::Leaf(leaf)) => store(&mut seen, leaf, std::mem::take(&mut text_buf))?,
                // Everything read is in the header: stop there.
                Some(Place::Header) => break,
                Some(_) => {}
                None => return refuse("end tag without a start tag"),
            },
            Event::Text(t) => {
                if let Some(Place::Leaf(_)) = stack.last() {
                    let s = std::str::from_utf8(&t)
                        .map_err(|_| ExtractError("text is not UTF-8".into()))?;
                    text_buf.push_str(&normalize_line_ends(Cow::Borrowed(s)));
                } else if stack.is_empty() && !t.iter().all(|b| b.is_ascii_whitespace()) {
                    return refuse("text outside the root element");
                }
            }
            Event::CData(c) => {
                if let Some(Place::Leaf(_)) = stack.last() {
                    let s = std::str::from_utf8(&c)
                        .map_err(|_| ExtractError("CDATA is not UTF-8".into()))?;
                    text_buf.push_str(&normalize_line_ends(Cow::Borrowed(s)));
                } else if stack.is_empty() {
                    return refuse("CDATA outside the root element");
                }
            }
            Event::GeneralRef(r) => {
                let name = std::str::from_utf8(&r)
                    .map_err(|_| ExtractError("reference is not UTF-8".into()))?;
                let ch = reference(name)?;
                if stack.is_empty() {
                    return refuse("reference outside the root element");
                }
                if let Some(Place::Leaf(_)) = stack.last() {
                    text_buf.push(ch);
                }
            }
            Event::DocType(_) => return refuse("a DTD is not allowed"),
            Event::Decl(decl) => {
                if let Some(enc) = decl.encoding() {
                    let enc = enc.map_err(|e| ExtractError(format!("malformed XML: {e}")))?;
                    if !enc.eq_ignore_ascii_case(b"utf-8") {
                        return refuse(format!(
                            "encoding {:?} is not UTF-8",
                            String::from_utf8_lossy(&enc)
                        ));
                    }
                }
            }
            Event::PI(pi) => {
                if pi.target().eq_ignore_ascii_case(b"xml") {
                    return refuse("an XML declaration is only allowed at the very start");
                }
            }
            Event::Comment(_) => {}
            Event::Eof => return refuse("the message ends without an edXMLHeader"),
        }
    }
    finish(seen)
}

/// Enter an element: its place, or a refusal.
fn open(
    stack: &[Place],
    ns: &ResolveResult<'_>,
    e: &BytesStart<'_>,
    seen: &mut Seen,
) -> Result<Place, ExtractError> {
    let local = e.local_name();
    let local = local.as_ref();
    let name = || String::from_utf8_lossy(local).into_owned();
    let Some(&parent) = stack.last() else {
        return match local {
            _ if !is_edxml(ns) => refuse(format!(
                "the root element <{}> is not in the edXML namespace",
                name()
            )),
            b"edXML" => Ok(Place::Root),
            b"edXMLEnvelope" => Ok(Place::Envelope),
            _ => refuse("the root element must be edXML (or edXMLEnvelope)"),
        };
    };
    let once = |flag: &mut bool, what: &str| {
        if std::mem::replace(flag, true) {
            refuse(format!("{what} appears more than once"))
        } else {
            Ok(())
        }
    };
    match parent {
        Place::Skip => return Ok(Place::Skip),
        Place::Leaf(leaf) => {
            return refuse(format!(
                "{}: expected text, found element <{}>",
                leaf_name(leaf),
                name()
            ))
        }
        // Attachments and the body are not read.
        Place::Root if is_edxml(ns) && local == b"edXMLEnvelope" => {
            once(&mut seen.envelope, "edXMLEnvelope")?;
            return Ok(Place::Envelope);
        }
        Place::Envelope if is_edxml(ns) && local == b"edXMLHeader" => {
            once(&mut seen.header, "edXMLHeader")?;
            return Ok(Place::Header);
        }
        Place::Root | Place::Envelope => return Ok(Place::Skip),
        _ => {}
    }
    let signature_ns = match ns {
        ResolveResult::Unbound => true,
        ResolveResult::Bound(n) => {
            n.as_ref() == DSIG_NS.as_bytes() || n.as_ref() == EDXML_NS.as_bytes()
        }
        ResolveResult::Unknown(_) => false,
    };
    if local == b"Signature" && signature_ns {
        // XML-DSig: allowed among edXML fields, not read.
        return Ok(Place::Skip);
    }
    if !is_edxml(ns) {
        // As the full parser: the children of the elements read must be
        // edXML elements.
        return refuse(format!("<{}> is not in the edXML namespace", name()));
    }
    let place = child(parent, local);
    match place {
        Place::MessageHeader => once(&mut seen.message_header, "MessageHeader")?,
        Place::From => once(&mut seen.from, "From")?,
        Place::OtherInfo => once(&mut seen.other_info, "OtherInfo")?,
        Place::ResponseFor => once(&mut seen.response_for, "ResponseFor")?,
        Place::TraceList => once(&mut seen.trace_list, "TraceHeaderList")?,
        Place::TraceHeader => seen.trace.push((None, None)),
        _ => {}
    }
    Ok(place)
}

fn store(seen: &mut Seen, leaf: Leaf, text: String) -> Result<(), ExtractError> {
    let slot = seen.slot(leaf);
    if slot.is_some() {
        return refuse(format!("{} appears more than once", leaf_name(leaf)));
    }
    *slot = Some(text);
    Ok(())
}

/// A mandatory, non-empty, trimmed value parsed by `parse`.
fn value<T, E: std::fmt::Display>(
    text: &Option<String>,
    name: &str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<T, ExtractError> {
    let Some(t) = text else {
        return refuse(format!("mandatory element {name} is missing"));
    };
    let t = t.trim();
    if t.is_empty() {
        return refuse(format!("{name} is empty; a value is required"));
    }
    parse(t).map_err(|e| ExtractError(format!("{name}: {e}")))
}

fn unix(t: &EdTimestamp) -> i64 {
    t.to_offset().unix_timestamp()
}

fn finish(seen: Seen) -> Result<Extracted, ExtractError> {
    if !seen.message_header {
        return refuse("mandatory element MessageHeader is missing");
    }
    if !seen.from {
        return refuse("mandatory element From is missing");
    }
    let from = value(&seen.from_organ_id, "From/OrganId", OrganId::parse)?;
    if !seen.trace_list {
        return refuse("mandatory element TraceHeaderList is missing");
    }
    if seen.trace.is_empty() {
        return refuse("at least one TraceHeader (OrganId, Timestamp) is required");
    }
    let mut sent_at = None;
    for (organ, ts) in &seen.trace {
        value(organ, "TraceHeader/OrganId", OrganId::parse)?;
        let t = value(ts, "TraceHeader/Timestamp", EdTimestamp::parse)?;
        sent_at.get_or_insert(unix(&t));
    }
    let sent_at = sent_at.expect("at least one TraceHeader");
    if seen.status_code.is_some() {
        if !seen.response_for {
            return refuse("mandatory element ResponseFor is missing");
        }
        let original_sender = value(
            &seen.response_organ_id,
            "ResponseFor/OrganId",
            OrganId::parse,
        )?;
        let document_id = seen
            .response_document_id
            .as_deref()
            .ok_or_else(|| {
                ExtractError("mandatory element ResponseFor/DocumentId is missing".into())
            })?
            .trim()
            .to_owned();
        let code = value(&seen.status_code, "StatusCode", StatusCode::parse)?;
        let at = value(&seen.timestamp, "Timestamp", EdTimestamp::parse)?;
        return Ok(Extracted::Status {
            from: from.as_str().to_owned(),
            document_id,
            original_sender: original_sender.as_str().to_owned(),
            code: code.code(),
            description: seen.description.unwrap_or_default(),
            at: unix(&at),
        });
    }
    let document_id = seen
        .document_id
        .as_deref()
        .ok_or_else(|| ExtractError("mandatory element DocumentId is missing".into()))?
        .trim()
        .to_owned();
    if !seen.other_info {
        return refuse("mandatory element OtherInfo is missing");
    }
    let priority = value(&seen.priority, "OtherInfo/Priority", Priority::parse)?;
    Ok(Extracted::Document {
        from: from.as_str().to_owned(),
        document_id,
        priority: priority.code(),
        sent_at,
    })
}
