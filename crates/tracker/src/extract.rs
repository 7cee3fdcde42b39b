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
//! # Where reading stops
//!
//! All of them are in `MessageHeader` and the first `TraceHeader`, inside
//! `edXMLHeader`, before the signature, the body and the attachments.
//! Reading stops as soon as `MessageHeader` and one `TraceHeader` have been
//! closed: the signature that follows is half a status's header and a
//! quarter of a document's. The full parser takes the header's children in
//! any order and refuses a repeated one, so on a message it accepts the
//! fields read by then are the fields it reads.
//!
//! Stopping early must not make a cut message look whole, so it is done
//! only when the message ends with the end tag of its root element (white
//! space after it allowed), which a message cut before its end does not;
//! any other message (cut short, or with a comment after its root) is read
//! to `</edXMLHeader>`.
//!
//! # Two readers, one field reader
//!
//! [`extract_fast`] is a byte scanner for the plain XML signed messages are
//! made of: ASCII names, quoted attributes, namespace declarations, text
//! with the predefined entities and character references, comments, CDATA.
//! On anything else (a DOCTYPE, a processing instruction, an XML
//! declaration it does not know, a byte-order mark, white space in an end
//! tag, an undeclared prefix...) and on every refusal it gives up, and
//! [`extract_quick_xml`], the quick-xml streaming reader, decides ([`extract`]
//! does that). Both drive the same field reader (which element is where,
//! each once, the values parsed, when to stop), so they can only differ in
//! how they cut the bytes into tags and text; the tests run both on every
//! input and require the same answer whenever the scanner gives one.
//!
//! # What is checked, what is not
//!
//! Every field read is checked as the full parser checks it: the element
//! is in the edXML namespace at its place, appears once, holds text only,
//! and its value parses (`OrganId`, `Priority`, `StatusCode`, timestamps).
//! In everything read (up to where reading stops), entities other than the
//! five predefined ones and character references, a DTD, bad UTF-8,
//! undeclared namespace prefixes, unbalanced tags and nesting deeper than
//! [`MAX_DEPTH`] are refused; no entity is ever expanded. Every
//! `TraceHeader` read is checked, and at least one is required. What the
//! tracker does not read (the subject, the body, the signature) is not
//! checked: the recipients' adapters do that and answer a bad message with
//! a 02 status, which the tracker counts. So on a message the full parser
//! accepts, [`extract`] gives the same fields (the tests compare the two);
//! a message it refuses is refused by the full parser too (the fields it
//! reads are wrong), never the reverse for the fields both read.

use std::borrow::Cow;

use docaxis_edxml::{EdTimestamp, OrganId, Priority, StatusCode, DSIG_NS, EDXML_NS};
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

mod scan;

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

/// Read the tracker's fields from `payload` (see the module docs): the
/// byte scanner's answer when it has one, quick-xml's otherwise.
pub fn extract(payload: &[u8]) -> Result<Extracted, ExtractError> {
    match extract_fast(payload) {
        Some(fields) => Ok(fields),
        None => extract_quick_xml(payload),
    }
}

/// The byte scanner alone: the fields, or `None` when it cannot be sure
/// of the answer (input it does not read, or a refusal, which
/// [`extract_quick_xml`] then explains). Public for the tests and the
/// bench, which compare the two readers.
pub fn extract_fast(payload: &[u8]) -> Option<Extracted> {
    let mut reading = Reading::new(payload);
    let end = scan::scan(payload, &mut reading)?;
    utf8(&payload[..end]).ok()?;
    reading.finish().ok()
}

/// The quick-xml streaming reader alone: it decides every input.
pub fn extract_quick_xml(payload: &[u8]) -> Result<Extracted, ExtractError> {
    let mut reader = NsReader::from_reader(payload);
    let config = reader.config_mut();
    config.expand_empty_elements = false;
    config.check_end_names = true;
    config.check_comments = true;
    config.trim_text(false);

    let mut reading = Reading::new(payload);
    let mut first = true;
    loop {
        let (ns, event) = reader
            .read_resolved_event()
            .map_err(|e| ExtractError(format!("malformed XML: {e}")))?;
        let ns = match ns {
            ResolveResult::Unknown(p) => {
                return refuse(format!(
                    "undeclared namespace prefix {:?}",
                    String::from_utf8_lossy(&p)
                ))
            }
            ResolveResult::Unbound => Ns::Unbound,
            ResolveResult::Bound(n) => Ns::of(n.as_ref()),
        };
        match event {
            Event::Start(e) => {
                reading.start(ns, e.name().as_ref(), e.local_name().as_ref(), false)?
            }
            Event::Empty(e) => {
                reading.start(ns, e.name().as_ref(), e.local_name().as_ref(), true)?
            }
            Event::End(_) => {
                if reading.end()? {
                    break;
                }
            }
            Event::Text(t) => reading.chars(t.into_inner(), false)?,
            Event::CData(c) => reading.chars(c.into_inner(), true)?,
            Event::GeneralRef(r) => reading.reference(&r)?,
            Event::DocType(_) => return refuse("a DTD is not allowed"),
            Event::Decl(decl) => {
                if !first {
                    return refuse("an XML declaration is only allowed at the very start");
                }
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
        first = false;
    }
    let end = usize::try_from(reader.buffer_position()).unwrap_or(payload.len());
    utf8(&payload[..end.min(payload.len())])?;
    reading.finish()
}

fn utf8(read: &[u8]) -> Result<(), ExtractError> {
    std::str::from_utf8(read)
        .map(drop)
        .map_err(|e| ExtractError(format!("not UTF-8 (at byte {})", e.valid_up_to())))
}

/// The namespace of an element, as far as the field reader cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ns {
    Edxml,
    Dsig,
    /// No namespace.
    Unbound,
    Other,
}

impl Ns {
    fn of(uri: &[u8]) -> Ns {
        if uri == EDXML_NS.as_bytes() {
            Ns::Edxml
        } else if uri == DSIG_NS.as_bytes() {
            Ns::Dsig
        } else {
            Ns::Other
        }
    }
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

/// A leaf's text as read: borrowed from the message when it is one piece.
type Value<'a> = Option<Cow<'a, str>>;

/// One value per leaf, `Some` once seen (a second one is refused).
#[derive(Default)]
struct Seen<'a> {
    document_id: Value<'a>,
    status_code: Value<'a>,
    description: Value<'a>,
    timestamp: Value<'a>,
    from_organ_id: Value<'a>,
    priority: Value<'a>,
    response_organ_id: Value<'a>,
    response_document_id: Value<'a>,
    root: bool,
    envelope: bool,
    header: bool,
    from: bool,
    other_info: bool,
    response_for: bool,
    trace_list: bool,
    message_header: bool,
    /// `</MessageHeader>` was read.
    message_header_closed: bool,
    /// A `</TraceHeader>` was read.
    trace_header_closed: bool,
    /// Per TraceHeader: OrganId and Timestamp texts.
    trace: Vec<(Value<'a>, Value<'a>)>,
}

impl<'a> Seen<'a> {
    fn slot(&mut self, leaf: Leaf) -> &mut Value<'a> {
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

/// The text of the leaf being read: borrowed from the message while it is
/// one piece (the usual case), owned once a second piece (a reference,
/// CDATA, text after a comment) joins it.
#[derive(Default)]
struct Text<'a>(Option<Cow<'a, str>>);

impl<'a> Text<'a> {
    fn push(&mut self, piece: Cow<'a, str>) {
        match &mut self.0 {
            None => self.0 = Some(piece),
            Some(text) => text.to_mut().push_str(&piece),
        }
    }

    fn push_char(&mut self, ch: char) {
        match &mut self.0 {
            None => self.0 = Some(Cow::Owned(ch.to_string())),
            Some(text) => text.to_mut().push(ch),
        }
    }

    fn take(&mut self) -> Cow<'a, str> {
        self.0.take().unwrap_or_default()
    }
}

/// The field reader both tokenizers drive, event by event.
struct Reading<'a> {
    /// The places of the open elements, `depth` of them.
    places: [Place; MAX_DEPTH],
    depth: usize,
    seen: Seen<'a>,
    text: Text<'a>,
    /// The qualified name of the end tag the message ends with, while
    /// reading may stop early (see the module docs).
    last_end_tag: Option<&'a [u8]>,
}

impl<'a> Reading<'a> {
    fn new(payload: &'a [u8]) -> Reading<'a> {
        Reading {
            places: [Place::Skip; MAX_DEPTH],
            depth: 0,
            seen: Seen::default(),
            text: Text::default(),
            last_end_tag: final_end_tag(payload),
        }
    }

    fn top(&self) -> Option<Place> {
        self.depth.checked_sub(1).map(|i| self.places[i])
    }

    /// A start tag (`empty`: `<x/>`) with its qualified and local names.
    fn start(
        &mut self,
        ns: Ns,
        qname: &[u8],
        local: &[u8],
        empty: bool,
    ) -> Result<(), ExtractError> {
        if self.depth >= MAX_DEPTH {
            return refuse(format!("nested deeper than {MAX_DEPTH} elements"));
        }
        if self.depth == 0 && self.last_end_tag != Some(qname) {
            // Not known to be whole: read up to the header's end.
            self.last_end_tag = None;
        }
        let place = open(self.top(), ns, local, &mut self.seen)?;
        if empty {
            if let Place::Leaf(leaf) = place {
                store(&mut self.seen, leaf, Cow::Borrowed(""))?;
            }
        } else {
            self.places[self.depth] = place;
            self.depth += 1;
            if let Place::Leaf(_) = place {
                self.text = Text::default();
            }
        }
        Ok(())
    }

    /// An end tag (the tokenizer checked that it matches): `true` when
    /// everything needed has been read.
    fn end(&mut self) -> Result<bool, ExtractError> {
        let Some(top) = self.depth.checked_sub(1) else {
            return refuse("end tag without a start tag");
        };
        self.depth = top;
        match self.places[top] {
            Place::Leaf(leaf) => {
                let text = self.text.take();
                store(&mut self.seen, leaf, text)?;
            }
            Place::Header => return Ok(true),
            Place::MessageHeader => self.seen.message_header_closed = true,
            Place::TraceHeader => self.seen.trace_header_closed = true,
            _ => {}
        }
        Ok(self.last_end_tag.is_some()
            && self.seen.message_header_closed
            && self.seen.trace_header_closed)
    }

    /// Text (`cdata`: a CDATA section's content), one piece between
    /// markup and references.
    fn chars(&mut self, piece: Cow<'a, [u8]>, cdata: bool) -> Result<(), ExtractError> {
        if let Some(Place::Leaf(_)) = self.top() {
            let piece = match piece {
                Cow::Borrowed(b) => Cow::Borrowed(
                    std::str::from_utf8(b).map_err(|_| ExtractError("text is not UTF-8".into()))?,
                ),
                Cow::Owned(b) => Cow::Owned(
                    String::from_utf8(b).map_err(|_| ExtractError("text is not UTF-8".into()))?,
                ),
            };
            self.text.push(normalize_line_ends(piece));
        } else if self.depth == 0 && (cdata || !piece.iter().all(|b| b.is_ascii_whitespace())) {
            return refuse("text outside the root element");
        }
        Ok(())
    }

    /// An entity or character reference (`&name;`).
    fn reference(&mut self, name: &[u8]) -> Result<(), ExtractError> {
        let name =
            std::str::from_utf8(name).map_err(|_| ExtractError("reference is not UTF-8".into()))?;
        let ch = reference(name)?;
        if self.depth == 0 {
            return refuse("reference outside the root element");
        }
        if let Some(Place::Leaf(_)) = self.top() {
            self.text.push_char(ch);
        }
        Ok(())
    }

    fn finish(self) -> Result<Extracted, ExtractError> {
        finish(self.seen)
    }
}

/// The qualified name in the end tag `payload` ends with (white space
/// after it allowed), if it ends with one.
fn final_end_tag(payload: &[u8]) -> Option<&[u8]> {
    let inner = trim_end(payload).strip_suffix(b">")?;
    let open = memchr::memrchr(b'<', inner)?;
    let name = trim_end(inner[open + 1..].strip_prefix(b"/")?);
    (!name.is_empty()).then_some(name)
}

fn trim_end(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        .map_or(0, |p| p + 1);
    &bytes[..end]
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

/// Enter an element below `parent` (`None`: the root): its place, or a
/// refusal.
fn open(
    parent: Option<Place>,
    ns: Ns,
    local: &[u8],
    seen: &mut Seen<'_>,
) -> Result<Place, ExtractError> {
    let name = || String::from_utf8_lossy(local).into_owned();
    let edxml = ns == Ns::Edxml;
    let once = |flag: &mut bool, what: &str| {
        if std::mem::replace(flag, true) {
            refuse(format!("{what} appears more than once"))
        } else {
            Ok(())
        }
    };
    let Some(parent) = parent else {
        once(&mut seen.root, "a root element")?;
        return match local {
            _ if !edxml => refuse(format!(
                "the root element <{}> is not in the edXML namespace",
                name()
            )),
            b"edXML" => Ok(Place::Root),
            b"edXMLEnvelope" => Ok(Place::Envelope),
            _ => refuse("the root element must be edXML (or edXMLEnvelope)"),
        };
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
        Place::Root if edxml && local == b"edXMLEnvelope" => {
            once(&mut seen.envelope, "edXMLEnvelope")?;
            return Ok(Place::Envelope);
        }
        Place::Envelope if edxml && local == b"edXMLHeader" => {
            once(&mut seen.header, "edXMLHeader")?;
            return Ok(Place::Header);
        }
        Place::Root | Place::Envelope => return Ok(Place::Skip),
        _ => {}
    }
    if local == b"Signature" && ns != Ns::Other {
        // XML-DSig: allowed among edXML fields, not read.
        return Ok(Place::Skip);
    }
    if !edxml {
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

fn store<'a>(seen: &mut Seen<'a>, leaf: Leaf, text: Cow<'a, str>) -> Result<(), ExtractError> {
    let slot = seen.slot(leaf);
    if slot.is_some() {
        return refuse(format!("{} appears more than once", leaf_name(leaf)));
    }
    *slot = Some(text);
    Ok(())
}

/// A mandatory, non-empty, trimmed value parsed by `parse`.
fn value<T, E: std::fmt::Display>(
    text: &Value<'_>,
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

/// A mandatory value that may be empty, trimmed.
fn text(text: &Value<'_>, name: &str) -> Result<String, ExtractError> {
    match text {
        Some(t) => Ok(t.trim().to_owned()),
        None => refuse(format!("mandatory element {name} is missing")),
    }
}

fn unix(t: &EdTimestamp) -> i64 {
    t.to_offset().unix_timestamp()
}

fn finish(seen: Seen<'_>) -> Result<Extracted, ExtractError> {
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
        let document_id = text(&seen.response_document_id, "ResponseFor/DocumentId")?;
        let code = value(&seen.status_code, "StatusCode", StatusCode::parse)?;
        let at = value(&seen.timestamp, "Timestamp", EdTimestamp::parse)?;
        return Ok(Extracted::Status {
            from: from.as_str().to_owned(),
            document_id,
            original_sender: original_sender.as_str().to_owned(),
            code: code.code(),
            description: seen.description.map(Cow::into_owned).unwrap_or_default(),
            at: unix(&at),
        });
    }
    let document_id = text(&seen.document_id, "DocumentId")?;
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
