//! From a tap delivery (envelope + signed edXML) to a [`Record`].
//!
//! The tracker does not verify signatures. Recipients do (their adapters
//! refuse what fails, with a 02 status the tracker then counts); the
//! tracker's job is to count what the axis carried, and a forged message
//! the axis carried is still traffic the operators must see. The sending
//! agency is taken from the envelope, which the broker authenticates
//! (RabbitMQ checks `user_id` against the connection's login), not from the
//! XML's `From`; a disagreement is logged. Verifying 2.5 million signatures
//! a month against the directory would also cost the tracker more than all
//! its counting.
//!
//! [`decode`] reads the few fields it needs with [`crate::extract`] (a byte
//! scanner, with quick-xml behind it, that stops after the last field it
//! needs); [`decode_full`] does the same with the full edXML parser and is
//! kept as the reference the tests compare it with.

use docaxis_axis::{Envelope, Kind};
use docaxis_edxml::{parse, Message, ParseLimits};

use crate::extract::{extract, Extracted};
use crate::state::{DocumentEvent, Event, StatusEvent};
use crate::store::Record;

/// Why a delivery could not be turned into an event.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Not edXML.
    #[error("tracker: not a valid edXML message: {0}")]
    Parse(String),
    /// The envelope says document, the payload is a status, or the reverse.
    #[error("tracker: envelope kind {0} does not match the payload")]
    KindMismatch(&'static str),
}

/// An error message cut to at most 300 bytes, on a character boundary (a
/// hostile message's text quoted in the error may be any UTF-8).
fn clip(mut s: String) -> String {
    if s.len() > 300 {
        let mut end = 300;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

fn warn_from(envelope: &Envelope, xml_from: &str, document_id: &str) {
    if xml_from != envelope.sender() {
        tracing::warn!(
            envelope = envelope.sender(),
            xml = xml_from,
            document_id,
            "From differs from the envelope's sender; counting the envelope's"
        );
    }
}

/// Decode one tap copy (the fast path: see [`crate::extract`]).
pub fn decode(
    envelope: &Envelope,
    delivered_to: &str,
    observed_at: i64,
) -> Result<Record, DecodeError> {
    let fields = extract(envelope.payload()).map_err(|e| DecodeError::Parse(clip(e.0)))?;
    let event = match (fields, envelope.kind()) {
        (
            Extracted::Document {
                from,
                document_id,
                priority,
                sent_at,
            },
            Kind::Document,
        ) => {
            warn_from(envelope, &from, &document_id);
            Event::Document(DocumentEvent {
                document_id,
                sender: envelope.sender().to_string(),
                recipients: envelope.recipients().to_vec(),
                priority,
                sent_at,
            })
        }
        (
            Extracted::Status {
                from,
                document_id,
                original_sender,
                code,
                description,
                at,
            },
            Kind::Status,
        ) => {
            warn_from(envelope, &from, &document_id);
            Event::Status(StatusEvent {
                document_id,
                original_sender,
                from: envelope.sender().to_string(),
                code,
                description,
                at,
            })
        }
        (_, k) => return Err(DecodeError::KindMismatch(k.as_str())),
    };
    Ok(Record {
        message_id: envelope.message_id().to_string(),
        recipient: delivered_to.to_string(),
        observed_at,
        event,
    })
}

/// Decode one tap copy with the full edXML parser: the reference
/// [`decode`] is tested against (slower: it builds the whole message).
pub fn decode_full(
    envelope: &Envelope,
    delivered_to: &str,
    observed_at: i64,
) -> Result<Record, DecodeError> {
    let parsed = parse(envelope.payload(), &ParseLimits::default())
        .map_err(|e| DecodeError::Parse(clip(e.to_string())))?;
    let event = match (parsed.message, envelope.kind()) {
        (Message::Document(d), Kind::Document) => {
            let h = &d.header;
            warn_from(envelope, h.from.organ_id.as_str(), &h.document_id);
            let sent_at = d
                .trace
                .trace_headers
                .first()
                .map(|t| t.timestamp.to_offset().unix_timestamp())
                .unwrap_or(observed_at);
            Event::Document(DocumentEvent {
                document_id: h.document_id.clone(),
                sender: envelope.sender().to_string(),
                recipients: envelope.recipients().to_vec(),
                priority: h.other_info.priority.code(),
                sent_at,
            })
        }
        (Message::Status(s), Kind::Status) => {
            warn_from(
                envelope,
                s.from.organ_id.as_str(),
                &s.response_for.document_id,
            );
            Event::Status(StatusEvent {
                document_id: s.response_for.document_id.clone(),
                original_sender: s.response_for.organ_id.as_str().to_string(),
                from: envelope.sender().to_string(),
                code: s.status_code.code(),
                description: s.description.clone(),
                at: s.timestamp.to_offset().unix_timestamp(),
            })
        }
        (_, k) => return Err(DecodeError::KindMismatch(k.as_str())),
    };
    Ok(Record {
        message_id: envelope.message_id().to_string(),
        recipient: delivered_to.to_string(),
        observed_at,
        event,
    })
}
