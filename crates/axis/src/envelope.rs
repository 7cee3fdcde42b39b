//! The unit the axis carries: opaque signed bytes plus routing metadata.

use std::sync::OnceLock;

use bytes::Bytes;

use crate::AxisError;

/// Longest agency id accepted. Ids become routing keys and queue-name parts
/// (AMQP short strings, 255 bytes), so they must stay well below that.
pub const MAX_ID_LEN: usize = 64;

/// What an envelope carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A signed official document (edXML).
    Document,
    /// A status message (arrived, accepted, refused...) about a document;
    /// routed back to the original sender.
    Status,
}

impl Kind {
    /// Wire name used in headers and file metadata.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Document => "document",
            Kind::Status => "status",
        }
    }

    /// Parse the wire name.
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "document" => Some(Kind::Document),
            "status" => Some(Kind::Status),
            _ => None,
        }
    }
}

/// Check that `id` can be used as an agency identifier on the axis.
///
/// The real identifiers look like `000.00.00.G22`, but staging systems use
/// free-form ids (`vxp.saas.03`), so the check is about what the transport
/// needs, not about the OrganId grammar (that lives in the directory crate):
/// non-empty, at most [`MAX_ID_LEN`] bytes, only ASCII letters, digits and
/// `. - _ :`, not made of dots only. Characters like `*`, `#`, `/`, `,` and
/// spaces are excluded because they would be wildcards in topic bindings,
/// path separators in the embedded axis, or list separators in headers.
pub fn validate_agency_id(id: &str) -> Result<(), AxisError> {
    let bad = |reason| {
        Err(AxisError::InvalidId {
            id: id.to_string(),
            reason,
        })
    };
    if id.is_empty() {
        return bad("empty");
    }
    if id.len() > MAX_ID_LEN {
        return bad("longer than 64 bytes");
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'))
    {
        return bad("only ASCII letters, digits and . - _ : are allowed");
    }
    if id.bytes().all(|b| b == b'.') {
        return bad("dots only");
    }
    Ok(())
}

/// Hex SHA-256 of `payload`: the digest and message id of an envelope.
///
/// Computed with ring: on the project machine (no SHA extensions) the
/// portable `sha2` code took ~60 µs per 10 KiB payload and was the largest
/// client-side cost of the transport.
pub fn payload_digest(payload: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, payload))
}

/// A signed document or status on its way through the axis.
///
/// The payload is opaque to the transport (the signed edXML bytes); the
/// other fields are routing metadata copied into broker headers so that
/// routing, dead-lettering and tracking never need to parse XML.
///
/// Fields are private so that an envelope can only be built through
/// [`Envelope::new`] / [`Envelope::status`], which validate ids.
///
/// # The digest is never taken from the wire
///
/// [`digest`](Envelope::digest) and [`message_id`](Envelope::message_id)
/// (the same hex SHA-256 of the payload) are computed **by this process,
/// from the payload**, the first time either is asked for, and then kept:
/// a message id that does not match the payload cannot exist. Receivers
/// use the id as their deduplication key and in file names before they
/// verify the signature, so an id read from a broker header could make
/// them drop a genuine document as a "duplicate" or write outside their
/// folders; the digest header and AMQP `message_id` the RabbitMQ axis
/// sends are therefore for operators (management UI, logs) and are never
/// read back. Computing it on first use hashes each payload at most once
/// per process: once by the sender (its broker headers need it), once by a
/// receiver that asks for the id (the adapter and the tracker do), never
/// by the transport for its own sake (~30 µs per 10 KiB here).
#[derive(Debug, Clone)]
pub struct Envelope {
    kind: Kind,
    sender: String,
    recipients: Vec<String>,
    key_id: String,
    /// Hex SHA-256 of `payload`, computed on first use.
    digest: OnceLock<String>,
    payload: Bytes,
}

/// Equal envelopes carry the same bytes with the same metadata; the digest
/// follows from the payload, whether or not it was computed yet.
impl PartialEq for Envelope {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
            && self.sender == other.sender
            && self.recipients == other.recipients
            && self.key_id == other.key_id
            && self.payload == other.payload
    }
}

impl Eq for Envelope {}

impl Envelope {
    /// Build a document (or status) envelope.
    ///
    /// `sender` and every recipient must pass [`validate_agency_id`];
    /// recipients must be non-empty and without duplicates (one delivery is
    /// tracked per (document, recipient)). The digest and message id are the
    /// hex SHA-256 of `payload`, so the same signed bytes always get the
    /// same id and receivers can deduplicate redeliveries on it.
    pub fn new(
        kind: Kind,
        sender: impl Into<String>,
        recipients: Vec<String>,
        key_id: impl Into<String>,
        payload: impl Into<Bytes>,
    ) -> Result<Envelope, AxisError> {
        let sender = sender.into();
        let key_id = key_id.into();
        validate_agency_id(&sender)?;
        if recipients.is_empty() {
            return Err(AxisError::InvalidEnvelope("no recipient".into()));
        }
        for (i, r) in recipients.iter().enumerate() {
            validate_agency_id(r)?;
            if recipients[..i].contains(r) {
                return Err(AxisError::InvalidEnvelope(format!(
                    "duplicate recipient {r}"
                )));
            }
        }
        // The key id travels in a header: keep it printable and bounded.
        if key_id.is_empty()
            || key_id.len() > 200
            || key_id.bytes().any(|b| !(0x21..0x7f).contains(&b))
        {
            return Err(AxisError::InvalidEnvelope(
                "key id must be 1..200 printable ASCII characters without spaces".into(),
            ));
        }
        Ok(Envelope {
            kind,
            sender,
            recipients,
            key_id,
            digest: OnceLock::new(),
            payload: payload.into(),
        })
    }

    /// A document for `recipients`.
    pub fn document(
        sender: impl Into<String>,
        recipients: Vec<String>,
        key_id: impl Into<String>,
        payload: impl Into<Bytes>,
    ) -> Result<Envelope, AxisError> {
        Envelope::new(Kind::Document, sender, recipients, key_id, payload)
    }

    /// A status from `sender` about a document of `original_sender`: it is
    /// routed back to the original sender, its only recipient.
    pub fn status(
        sender: impl Into<String>,
        original_sender: impl Into<String>,
        key_id: impl Into<String>,
        payload: impl Into<Bytes>,
    ) -> Result<Envelope, AxisError> {
        Envelope::new(
            Kind::Status,
            sender,
            vec![original_sender.into()],
            key_id,
            payload,
        )
    }

    /// Document or status.
    pub fn kind(&self) -> Kind {
        self.kind
    }
    /// Message id (hex SHA-256 of the payload, computed by this process:
    /// see [`Envelope`]): the deduplication key.
    pub fn message_id(&self) -> &str {
        self.digest()
    }
    /// Sending agency.
    pub fn sender(&self) -> &str {
        &self.sender
    }
    /// All recipients of the message (for a status: the original sender).
    pub fn recipients(&self) -> &[String] {
        &self.recipients
    }
    /// Identifier of the key that signed the payload.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }
    /// Hex SHA-256 of the payload, computed from it on first use (never
    /// read from the wire: see [`Envelope`]).
    pub fn digest(&self) -> &str {
        self.digest.get_or_init(|| payload_digest(&self.payload))
    }
    /// The signed bytes.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        for ok in ["000.00.00.G22", "vxp.saas.03", "a", "A-b_c:d"] {
            validate_agency_id(ok).unwrap();
        }
        for bad in [
            "",
            "...",
            "a b",
            "a*",
            "a#",
            "a/b",
            "a,b",
            "é",
            &"x".repeat(65),
        ] {
            assert!(validate_agency_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn envelope_checks() {
        let e = Envelope::document("A", vec!["B".into(), "C".into()], "k1", &b"x"[..]).unwrap();
        assert_eq!(e.message_id(), e.digest());
        assert_eq!(e.digest(), payload_digest(b"x"));
        assert!(Envelope::document("A", vec![], "k", &b"x"[..]).is_err());
        assert!(Envelope::document("A", vec!["B".into(), "B".into()], "k", &b"x"[..]).is_err());
        assert!(Envelope::document("A", vec!["B".into()], "k y", &b"x"[..]).is_err());
        let s = Envelope::status("B", "A", "k2", &b"s"[..]).unwrap();
        assert_eq!(s.recipients(), ["A".to_string()]);
        assert_eq!(s.kind(), Kind::Status);
        // The digest follows the payload, computed or not yet.
        let a = Envelope::document("A", vec!["B".into()], "k", &b"x"[..]).unwrap();
        let b = a.clone();
        assert_eq!(a.digest(), payload_digest(b"x"));
        assert_eq!(a, b);
        assert_ne!(
            a,
            Envelope::document("A", vec!["B".into()], "k", &b"y"[..]).unwrap()
        );
    }
}
