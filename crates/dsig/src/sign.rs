//! Signing: insert an enveloped signature into a document's bytes.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use docaxis_edxml::{
    serialize, signature_element, signed_info_element, Message, SignatureInfo, SignatureReference,
};
use docaxis_xml::{Document, Limits, XmlError};
use ed25519_dalek::{Signer as _, SigningKey};

use crate::{
    document_digest, find_header, C14N_EXCLUSIVE, DIGEST_SHA256, SIGNATURE_ED25519,
    TRANSFORM_ENVELOPED,
};

/// Why a document could not be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// The bytes are not acceptable XML.
    #[error("cannot sign: {0}")]
    Xml(#[from] XmlError),
    /// No `edXMLHeader` to put the signature in.
    #[error("cannot sign: not an edXML message (no edXML/edXMLEnvelope/edXMLHeader element)")]
    NotEdxml,
    /// The header already holds a signature.
    #[error("cannot sign: the message is already signed; a message carries exactly one signature")]
    AlreadySigned,
}

/// An agency's signing key with its id in the directory.
pub struct Signer {
    key: SigningKey,
    key_id: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("Signer")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer that names itself `key_id` in `KeyInfo/KeyName`.
    pub fn new(key: SigningKey, key_id: impl Into<String>) -> Self {
        Signer {
            key,
            key_id: key_id.into(),
        }
    }

    /// The key id written in signatures.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The public half, for the directory.
    pub fn verifying_key(&self) -> ed25519_dalek::VerifyingKey {
        self.key.verifying_key()
    }

    /// Serializes and signs a message.
    pub fn sign_message(&self, message: &Message) -> Result<Vec<u8>, SignError> {
        if message.signature().is_some() {
            return Err(SignError::AlreadySigned);
        }
        self.sign(&serialize(message), &Limits::default())
    }

    /// Signs edXML bytes: returns them with a `Signature` element added as
    /// the last child of `edXMLHeader`. Nothing else changes, byte for byte.
    pub fn sign(&self, xml: &[u8], limits: &Limits) -> Result<Vec<u8>, SignError> {
        let doc = Document::parse(xml, limits)?;
        let header = find_header(&doc.root).ok_or(SignError::NotEdxml)?;
        if header.elements().any(|e| e.local == "Signature") {
            return Err(SignError::AlreadySigned);
        }
        // The document's canonical form now is exactly what a verifier
        // computes after the enveloped-signature transform removes the
        // element we insert, since we insert nothing else.
        let digest = document_digest(&doc, None);
        let mut info = SignatureInfo {
            canonicalization_method: C14N_EXCLUSIVE.into(),
            signature_method: SIGNATURE_ED25519.into(),
            references: vec![SignatureReference {
                uri: Some(String::new()),
                transforms: vec![TRANSFORM_ENVELOPED.into(), C14N_EXCLUSIVE.into()],
                digest_method: DIGEST_SHA256.into(),
                digest_value: B64.encode(digest),
            }],
            signature_value: String::new(),
            key_name: Some(self.key_id.clone()),
        };
        // `signed_info_element` writes SignedInfo in its exclusive canonical
        // form (tested below against the canonicalizer), so these are the
        // bytes a verifier will canonicalize it to.
        let signed_info = signed_info_element(&info);
        info.signature_value = B64.encode(self.key.sign(signed_info.as_bytes()).to_bytes());

        let at = header.end_offset.ok_or(SignError::NotEdxml)?;
        let element = signature_element(&info);
        let mut out = Vec::with_capacity(xml.len() + element.len());
        out.extend_from_slice(&xml[..at]);
        out.extend_from_slice(element.as_bytes());
        out.extend_from_slice(&xml[at..]);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_info_is_written_in_canonical_form() {
        let signer = Signer::new(SigningKey::from_bytes(&[7; 32]), "k<&\"1");
        let signed = signer
            .sign_message(&Message::Document(Box::new(
                docaxis_edxml::example_document(),
            )))
            .unwrap();
        let doc = Document::parse(&signed, &Limits::default()).unwrap();
        let header = find_header(&doc.root).unwrap();
        let sig = header.elements().find(|e| e.local == "Signature").unwrap();
        let si = sig.elements().next().unwrap();
        let mut canonical = Vec::new();
        docaxis_xml::c14n::canonicalize_element(si, &mut canonical).unwrap();
        let parsed = docaxis_edxml::parse(&signed, &Default::default()).unwrap();
        let written = signed_info_element(parsed.message.signature().unwrap());
        assert_eq!(String::from_utf8(canonical).unwrap(), written);
    }

    #[test]
    fn refuses_what_it_cannot_sign() {
        let signer = Signer::new(SigningKey::from_bytes(&[7; 32]), "k1");
        assert_eq!(
            signer.sign(b"<a/>", &Limits::default()),
            Err(SignError::NotEdxml)
        );
        let once = signer
            .sign(
                docaxis_edxml::example_document_xml().as_bytes(),
                &Limits::default(),
            )
            .unwrap();
        assert_eq!(
            signer.sign(&once, &Limits::default()),
            Err(SignError::AlreadySigned)
        );
        assert!(format!("{signer:?}").contains("k1"));
    }
}
