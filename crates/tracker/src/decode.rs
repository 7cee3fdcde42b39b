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

use docaxis_axis::{Envelope, Kind};
use docaxis_edxml::{parse, Message, ParseLimits};

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

/// Decode one tap copy.
pub fn decode(
    envelope: &Envelope,
    delivered_to: &str,
    observed_at: i64,
) -> Result<Record, DecodeError> {
    let parsed = parse(envelope.payload(), &ParseLimits::default()).map_err(|e| {
        let mut s = e.to_string();
        s.truncate(300);
        DecodeError::Parse(s)
    })?;
    let event = match (parsed.message, envelope.kind()) {
        (Message::Document(d), Kind::Document) => {
            let h = &d.header;
            if h.from.organ_id.as_str() != envelope.sender() {
                tracing::warn!(
                    envelope = envelope.sender(),
                    xml = h.from.organ_id.as_str(),
                    document_id = h.document_id,
                    "document From differs from the envelope's sender; counting the envelope's"
                );
            }
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
            if s.from.organ_id.as_str() != envelope.sender() {
                tracing::warn!(
                    envelope = envelope.sender(),
                    xml = s.from.organ_id.as_str(),
                    "status From differs from the envelope's sender; counting the envelope's"
                );
            }
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
