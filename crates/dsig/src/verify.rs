//! Verification: prove who sent a message and that nothing changed.
//!
//! The order of checks is cheap to expensive, and structural before
//! cryptographic, so forged input costs little. Every refusal says exactly
//! what failed, in words an operator can act on.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use docaxis_directory::Directory;
use docaxis_edxml::{parse_dom, Message, OrganId, ParseError, ParseLimits, SignatureInfo};
use docaxis_xml::{c14n, Document, Element, XmlError};
use ed25519_dalek::{Signature, VerifyingKey};
use time::OffsetDateTime;

use crate::{
    document_digest, find_header, C14N_EXCLUSIVE, DIGEST_SHA256, SIGNATURE_ED25519,
    TRANSFORM_ENVELOPED,
};

/// A key found for a signature: whose it is, and the key.
#[derive(Debug, Clone)]
pub struct SignerKey {
    /// The agency the directory says owns the key.
    pub agency: OrganId,
    /// The public key.
    pub key: VerifyingKey,
}

/// Where verification finds keys: the agency directory.
pub trait KeyStore {
    /// The key named `key_id`, if it may verify a signature made at
    /// `signed_at` (the sender's claim) and checked at `now`. The error
    /// explains the refusal (unknown, revoked, expired, suspended ...).
    fn signer_key(
        &self,
        key_id: &str,
        signed_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<SignerKey, Box<dyn std::error::Error + Send + Sync>>;
}

/// The agency directory is the key store of the axis.
impl KeyStore for Directory {
    fn signer_key(
        &self,
        key_id: &str,
        signed_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<SignerKey, Box<dyn std::error::Error + Send + Sync>> {
        let resolved = self.resolve_key(key_id, signed_at, now)?;
        Ok(SignerKey {
            agency: resolved.organ_id().clone(),
            key: resolved.verifying_key,
        })
    }
}

/// A message whose signature holds.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The message.
    pub message: Message,
    /// The agency that signed (equal to the message's `From`).
    pub signer: OrganId,
    /// The directory id of the key used.
    pub key_id: String,
    /// SHA-256 of the canonical document without its signature: the
    /// document's identity for deduplication and the audit log.
    pub digest: [u8; 32],
}

/// Why a signature does not hold.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// Not acceptable XML (bombs, DOCTYPE, malformed ...).
    #[error("{0}")]
    Xml(#[from] XmlError),
    /// Fields missing or malformed.
    #[error("{0}")]
    Invalid(#[from] ParseError),
    /// No `Signature` in `edXMLHeader`.
    #[error("the message is not signed: edXMLHeader has no Signature element")]
    NotSigned,
    /// A `Signature` element somewhere other than `edXMLHeader`, or more
    /// than one: the shape of a signature-wrapping attack.
    #[error("signature wrapping refused: {0}")]
    Wrapping(String),
    /// An algorithm, reference or transform other than the scheme's.
    #[error("unsupported signature: {field} is {found:?}, docaxis requires {expected:?}")]
    Unsupported {
        /// Which part of SignedInfo.
        field: &'static str,
        /// What the message says.
        found: String,
        /// What the scheme requires.
        expected: String,
    },
    /// `KeyInfo/KeyName` missing.
    #[error("the signature names no key: KeyInfo/KeyName is missing")]
    NoKeyName,
    /// A base64 value that does not decode to the right length.
    #[error("{0} is not valid base64 of the right length")]
    BadEncoding(&'static str),
    /// No `TraceHeader` from the sender to date the signature.
    #[error("no TraceHeader from the sender {0}: the signing time is unknown")]
    NoSenderTrace(OrganId),
    /// The directory refused the key.
    #[error("key {key_id} refused: {reason}")]
    Key {
        /// The key id from KeyName.
        key_id: String,
        /// The directory's reason.
        reason: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The key belongs to an agency other than `From`.
    #[error("signed with a key of {signer}, but the message claims to be from {from}")]
    SignerNotSender {
        /// The key's owner.
        signer: OrganId,
        /// The claimed sender.
        from: OrganId,
    },
    /// The content changed after signing.
    #[error("the content was changed after signing (digest mismatch)")]
    DigestMismatch,
    /// The signature value does not verify.
    #[error("the signature value does not verify with key {0}")]
    BadSignature(String),
}

/// Verifies a signed edXML message against the directory, at time `now`.
pub fn verify(
    xml: &[u8],
    keys: &dyn KeyStore,
    now: OffsetDateTime,
    limits: &ParseLimits,
) -> Result<Verified, VerifyError> {
    let doc = Document::parse(xml, &limits.xml)?;
    // Structure first: a message that is not edXML is reported as such,
    // not as a misplaced signature.
    let parsed = parse_dom(&doc, limits)?;
    let signature = locate_signature(&doc)?;
    let message = parsed.message;
    let info = message.signature().ok_or(VerifyError::NotSigned)?;
    let expected_digest = check_scheme(info)?;
    let key_id = info.key_name.clone().ok_or(VerifyError::NoKeyName)?;
    let signature_value: [u8; 64] =
        decode_exactly(&info.signature_value).ok_or(VerifyError::BadEncoding("SignatureValue"))?;

    let from = &message.from().organ_id;
    // The signing time is the sender's own latest hop: a claim, which the
    // directory bounds (not after now, within the key's window) and which a
    // revoked key cannot use at all.
    let signed_at = message
        .trace()
        .trace_headers
        .iter()
        .rev()
        .find(|t| &t.organ_id == from)
        .map(|t| t.timestamp.to_offset())
        .ok_or_else(|| VerifyError::NoSenderTrace(from.clone()))?;
    let key = keys
        .signer_key(&key_id, signed_at, now)
        .map_err(|reason| VerifyError::Key {
            key_id: key_id.clone(),
            reason,
        })?;
    if &key.agency != from {
        return Err(VerifyError::SignerNotSender {
            signer: key.agency,
            from: from.clone(),
        });
    }

    let digest = document_digest(&doc, Some(signature));
    if digest != expected_digest {
        return Err(VerifyError::DigestMismatch);
    }
    let signed_info = signature
        .elements()
        .find(|e| e.local == "SignedInfo")
        .ok_or(VerifyError::NotSigned)?;
    let mut canonical = Vec::with_capacity(1024);
    c14n::canonicalize_element(signed_info, &mut canonical).expect("writing to a Vec cannot fail");
    key.key
        .verify_strict(&canonical, &Signature::from_bytes(&signature_value))
        .map_err(|_| VerifyError::BadSignature(key_id.clone()))?;

    let signer = key.agency;
    Ok(Verified {
        message,
        signer,
        key_id,
        digest,
    })
}

/// The one `Signature` element, which must be a child of `edXMLHeader`.
/// Any other element named `Signature` anywhere is refused: a verifier that
/// checks one signature and a reader that trusts another element is how
/// wrapping attacks work.
fn locate_signature<'d, 'a>(doc: &'d Document<'a>) -> Result<&'d Element<'a>, VerifyError> {
    let header = find_header(&doc.root);
    let mut found: Option<&'d Element<'a>> = None;
    let mut stack: Vec<(&'d Element<'a>, bool)> = vec![(&doc.root, false)];
    while let Some((e, parent_is_header)) = stack.pop() {
        if e.local == "Signature" {
            if !parent_is_header {
                let at = doc.position(e.offset);
                return Err(VerifyError::Wrapping(format!(
                    "a Signature element at {at} is outside edXMLHeader"
                )));
            }
            if found.is_some() {
                return Err(VerifyError::Wrapping(
                    "edXMLHeader holds more than one Signature".into(),
                ));
            }
            found = Some(e);
            continue;
        }
        let is_header = header.is_some_and(|h| std::ptr::eq(h, e));
        stack.extend(e.elements().map(|c| (c, is_header)));
    }
    let sig = found.ok_or(VerifyError::NotSigned)?;
    if sig.ns.as_deref() != Some(docaxis_edxml::DSIG_NS) {
        return Err(VerifyError::Unsupported {
            field: "Signature namespace",
            found: sig.ns.as_deref().unwrap_or("").into(),
            expected: docaxis_edxml::DSIG_NS.into(),
        });
    }
    Ok(sig)
}

/// Checks that SignedInfo is exactly the scheme's; returns the digest value.
fn check_scheme(info: &SignatureInfo) -> Result<[u8; 32], VerifyError> {
    let require = |field: &'static str, found: &str, expected: &str| {
        if found == expected {
            Ok(())
        } else {
            Err(VerifyError::Unsupported {
                field,
                found: found.into(),
                expected: expected.into(),
            })
        }
    };
    require(
        "CanonicalizationMethod",
        &info.canonicalization_method,
        C14N_EXCLUSIVE,
    )?;
    require("SignatureMethod", &info.signature_method, SIGNATURE_ED25519)?;
    let [reference] = info.references.as_slice() else {
        return Err(VerifyError::Unsupported {
            field: "Reference count",
            found: info.references.len().to_string(),
            expected: "1".into(),
        });
    };
    require(
        "Reference/@URI",
        reference.uri.as_deref().unwrap_or("(missing)"),
        "",
    )?;
    // Compared as they are; joined into words only to report a mismatch.
    let transforms = [TRANSFORM_ENVELOPED, C14N_EXCLUSIVE];
    if reference.transforms != transforms {
        require(
            "Transforms",
            &reference.transforms.join(" "),
            &transforms.join(" "),
        )?;
    }
    require("DigestMethod", &reference.digest_method, DIGEST_SHA256)?;
    decode_exactly(&reference.digest_value).ok_or(VerifyError::BadEncoding("DigestValue"))
}

/// Base64 that decodes to exactly `N` bytes (at most 64), decoded on the
/// stack.
fn decode_exactly<const N: usize>(text: &str) -> Option<[u8; N]> {
    // Larger than any N used, so a longer value is seen as a wrong length;
    // one too long for the buffer is refused by decode_slice.
    let mut buf = [0u8; 72];
    let n = B64.decode_slice(text, &mut buf).ok()?;
    buf.get(..N)
        .filter(|_| n == N)
        .and_then(|b| b.try_into().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_values_must_have_the_exact_length() {
        for len in [0, 31, 32, 33, 63, 64, 65, 100] {
            let text = B64.encode(vec![7u8; len]);
            assert_eq!(decode_exactly::<32>(&text).is_some(), len == 32, "{len}");
            assert_eq!(decode_exactly::<64>(&text).is_some(), len == 64, "{len}");
        }
        assert_eq!(
            decode_exactly::<32>(&B64.encode([5u8; 32])),
            Some([5u8; 32])
        );
        assert!(decode_exactly::<32>("not base64!").is_none());
    }
}
