//! Enveloped XML-DSig signatures for edXML messages: Ed25519 over SHA-256,
//! exclusive canonicalization.
//!
//! The scheme, fixed (nothing in an incoming signature can choose another):
//!
//! ```text
//! edXML/edXMLEnvelope/edXMLHeader/Signature   (XML-DSig namespace)
//!   SignedInfo
//!     CanonicalizationMethod  http://www.w3.org/2001/10/xml-exc-c14n#
//!     SignatureMethod         http://www.w3.org/2021/04/xmldsig-more#eddsa-ed25519
//!     Reference URI=""        the whole document, attachments included
//!       Transforms            enveloped-signature, then exclusive C14N
//!       DigestMethod          http://www.w3.org/2001/04/xmlenc#sha256
//!       DigestValue
//!   SignatureValue            Ed25519 over the canonical SignedInfo
//!   KeyInfo/KeyName           the key's id in the agency directory
//! ```
//!
//! [`Signer::sign`] inserts the signature into a document's bytes;
//! [`verify`] checks one against a [`KeyStore`] (the agency directory) and
//! refuses, with a precise [`VerifyError`], anything else: changed content,
//! an unknown, expired or revoked key, a signer other than the `From`
//! agency, a second `Signature` or one anywhere but in `edXMLHeader`
//! (signature wrapping), or any other algorithm or reference.

mod sign;
mod verify;

pub use sign::{SignError, Signer};
pub use verify::{verify, KeyStore, SignerKey, Verified, VerifyError};

/// `CanonicalizationMethod` and the second transform.
pub const C14N_EXCLUSIVE: &str = docaxis_xml::c14n::ALGORITHM;
/// `SignatureMethod`: Ed25519 (RFC 9231).
pub const SIGNATURE_ED25519: &str = "http://www.w3.org/2021/04/xmldsig-more#eddsa-ed25519";
/// `DigestMethod`: SHA-256.
pub const DIGEST_SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
/// The first transform: the signature leaves itself out.
pub const TRANSFORM_ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";

/// Feeds canonical bytes straight into SHA-256, so the canonical form of a
/// large document is never held in memory.
///
/// SHA-256 is ring's: its assembly (the BoringSSL code) hashes about twice
/// as fast as the `sha2` crate's on CPUs without the SHA extensions, and
/// hashing is most of the cost of signing and verifying a document. ring is
/// already built for rustls (the axis's TLS).
pub struct HashWriter(ring::digest::Context);

impl HashWriter {
    /// An empty SHA-256 state.
    pub fn new() -> HashWriter {
        HashWriter(ring::digest::Context::new(&ring::digest::SHA256))
    }

    /// The digest of everything written.
    pub fn finish(self) -> [u8; 32] {
        self.0
            .finish()
            .as_ref()
            .try_into()
            .expect("SHA-256 is 32 bytes")
    }
}

impl Default for HashWriter {
    fn default() -> Self {
        HashWriter::new()
    }
}

impl std::io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// SHA-256 of `bytes`, with the same implementation signing uses (the
/// benchmarks' bare-crypto baseline uses it too, so the comparison is fair).
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut h = HashWriter::new();
    h.0.update(bytes);
    h.finish()
}

/// SHA-256 of the document's exclusive canonical form without `exclude`.
pub(crate) fn document_digest(
    doc: &docaxis_xml::Document<'_>,
    exclude: Option<&docaxis_xml::Element<'_>>,
) -> [u8; 32] {
    let mut h = HashWriter::new();
    docaxis_xml::c14n::canonicalize_document(doc, exclude, &mut h)
        .expect("writing to a hasher cannot fail");
    h.finish()
}

/// Finds `edXMLHeader`: under `edXML/edXMLEnvelope`, or under a root
/// `edXMLEnvelope`.
pub(crate) fn find_header<'d, 'a>(
    root: &'d docaxis_xml::Element<'a>,
) -> Option<&'d docaxis_xml::Element<'a>> {
    use docaxis_edxml::EDXML_NS;
    let envelope = if root.is(Some(EDXML_NS), "edXMLEnvelope") {
        root
    } else if root.is(Some(EDXML_NS), "edXML") {
        root.elements()
            .find(|e| e.is(Some(EDXML_NS), "edXMLEnvelope"))?
    } else {
        return None;
    };
    envelope
        .elements()
        .find(|e| e.is(Some(EDXML_NS), "edXMLHeader"))
}
