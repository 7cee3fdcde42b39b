//! Signing: insert an enveloped signature into a document's bytes.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use docaxis_edxml::EDXML_NS;
use docaxis_edxml::{
    serialize, signature_element, signed_info_element, Message, SignatureInfo, SignatureReference,
};
use docaxis_xml::c14n::CanonicalSink;
use docaxis_xml::{parse_into, Element, Limits, Sink, XmlError};
use ed25519_dalek::{Signer as _, SigningKey};

use crate::{HashWriter, C14N_EXCLUSIVE, DIGEST_SHA256, SIGNATURE_ED25519, TRANSFORM_ENVELOPED};

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
    /// The signature's text around what changes from one document to the
    /// next; `None` if the key id defeats the split (then every signature
    /// is serialized whole).
    template: Option<Template>,
}

/// Stand-ins for the digest and signature values, which are base64 and
/// so can never contain `!`.
const DIGEST_MARK: &str = "!digest!";
const SIGNATURE_MARK: &str = "!signature!";

/// The `Signature` element of a signer, as the edXML serializer writes it
/// for the scheme, cut where the digest and the signature value go. Every
/// signature of the signer is these pieces around two base64 values,
/// which need no escaping: so the bytes are exactly the serializer's,
/// without serializing (and allocating the model of) the same text again
/// for each document.
struct Template {
    /// `SignedInfo` before and after the digest value.
    signed_info: [String; 2],
    /// `Signature` before `SignedInfo`, between it and the signature
    /// value, and after the value.
    signature: [String; 3],
}

impl Template {
    fn new(key_id: &str) -> Option<Template> {
        let info = signature_info(key_id, DIGEST_MARK.into(), SIGNATURE_MARK.into());
        let signed_info = signed_info_element(&info);
        let signature = signature_element(&info);
        let [si_head, si_tail] = split_once_exactly(&signed_info, DIGEST_MARK)?;
        let [head, rest] = split_once_exactly(&signature, &signed_info)?;
        let [middle, tail] = split_once_exactly(rest, SIGNATURE_MARK)?;
        Some(Template {
            signed_info: [si_head.into(), si_tail.into()],
            signature: [head.into(), middle.into(), tail.into()],
        })
    }
}

/// `text` before and after `mark`, if `mark` occurs in it exactly once.
fn split_once_exactly<'t>(text: &'t str, mark: &str) -> Option<[&'t str; 2]> {
    let (before, after) = text.split_once(mark)?;
    (!after.contains(mark)).then_some([before, after])
}

/// The scheme's `SignatureInfo` with these values.
fn signature_info(key_id: &str, digest_value: String, signature_value: String) -> SignatureInfo {
    SignatureInfo {
        canonicalization_method: C14N_EXCLUSIVE.into(),
        signature_method: SIGNATURE_ED25519.into(),
        references: vec![SignatureReference {
            uri: Some(String::new()),
            transforms: vec![TRANSFORM_ENVELOPED.into(), C14N_EXCLUSIVE.into()],
            digest_method: DIGEST_SHA256.into(),
            digest_value,
        }],
        signature_value,
        key_name: Some(key_id.into()),
    }
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
        let key_id = key_id.into();
        Signer {
            key,
            template: Template::new(&key_id),
            key_id,
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
        // One pass, no tree: the parser's checks, the canonical form
        // streamed into SHA-256, and where the header ends.
        let mut sink = SignSink::new(CanonicalSink::new(HashWriter::new()));
        parse_into(xml, limits, &mut sink)?;
        if !sink.header_seen {
            return Err(SignError::NotEdxml);
        }
        if sink.signed {
            return Err(SignError::AlreadySigned);
        }
        let at = sink.header_end.ok_or(SignError::NotEdxml)?;
        // The document's canonical form now is exactly what a verifier
        // computes after the enveloped-signature transform removes the
        // element we insert, since we insert nothing else.
        let hash = sink.c14n.finish().expect("writing to a hasher cannot fail");
        let digest: [u8; 32] = hash.finish();
        let element = self.signature(&digest);
        let mut out = Vec::with_capacity(xml.len() + element.len());
        out.extend_from_slice(&xml[..at]);
        out.extend_from_slice(element.as_bytes());
        out.extend_from_slice(&xml[at..]);
        Ok(out)
    }

    /// The `Signature` element for a document whose digest is `digest`.
    ///
    /// `signed_info_element` writes SignedInfo in its exclusive canonical
    /// form (tested below against the canonicalizer), so the bytes signed
    /// are the bytes a verifier will canonicalize it to.
    fn signature(&self, digest: &[u8; 32]) -> String {
        let Some(t) = &self.template else {
            let mut info = signature_info(&self.key_id, B64.encode(digest), String::new());
            let signed_info = signed_info_element(&info);
            info.signature_value = B64.encode(self.key.sign(signed_info.as_bytes()).to_bytes());
            return signature_element(&info);
        };
        let [si_head, si_tail] = &t.signed_info;
        let [head, middle, tail] = &t.signature;
        let mut out = String::with_capacity(head.len() + si_head.len() + si_tail.len() + 300);
        out.push_str(head);
        let signed_info = out.len();
        out.push_str(si_head);
        B64.encode_string(digest, &mut out);
        out.push_str(si_tail);
        let value = self.key.sign(&out.as_bytes()[signed_info..]).to_bytes();
        out.push_str(middle);
        B64.encode_string(value, &mut out);
        out.push_str(tail);
        out
    }
}

/// What a role an open element plays in finding `edXMLHeader`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    /// The root `edXML`.
    Root,
    /// The (first) `edXMLEnvelope`, as the root or under `edXML`.
    Envelope,
    /// The (first) `edXMLHeader` in the envelope.
    Header,
    /// Anything else.
    Other,
}

/// Forwards the document to the canonicalizer and, on the way, finds the
/// header as [`find_header`](crate::find_header) does on a tree: the first
/// `edXMLHeader` child of the first `edXMLEnvelope` child of the root
/// `edXML`, or of the root `edXMLEnvelope`; and notes a `Signature` child
/// in it.
struct SignSink<'x, W: std::io::Write> {
    c14n: CanonicalSink<'x, W>,
    roles: Vec<Role>,
    envelope_seen: bool,
    header_seen: bool,
    /// Offset of the header's end tag; `None` for `<edXMLHeader/>`.
    header_end: Option<usize>,
    signed: bool,
}

impl<'x, W: std::io::Write> SignSink<'x, W> {
    fn new(c14n: CanonicalSink<'x, W>) -> Self {
        SignSink {
            c14n,
            roles: Vec::with_capacity(16),
            envelope_seen: false,
            header_seen: false,
            header_end: None,
            signed: false,
        }
    }
}

impl<'x, W: std::io::Write> Sink<'x> for SignSink<'x, W> {
    fn source(&mut self, input: &'x [u8]) {
        self.c14n.source(input);
    }

    #[inline]
    fn start(&mut self, element: Element<'x>) {
        let edxml = |local: &str| element.is(Some(EDXML_NS), local);
        let role = match self.roles.last() {
            // Nearly every element: inside the content.
            Some(Role::Other) => Role::Other,
            None if edxml("edXML") => Role::Root,
            None if edxml("edXMLEnvelope") => {
                self.envelope_seen = true;
                Role::Envelope
            }
            Some(Role::Root) if !self.envelope_seen && edxml("edXMLEnvelope") => {
                self.envelope_seen = true;
                Role::Envelope
            }
            Some(Role::Envelope) if !self.header_seen && edxml("edXMLHeader") => {
                self.header_seen = true;
                Role::Header
            }
            Some(Role::Header) if element.local == "Signature" => {
                self.signed = true;
                Role::Other
            }
            _ => Role::Other,
        };
        self.roles.push(role);
        self.c14n.start_element(&element);
    }

    #[inline]
    fn end(&mut self, end_offset: Option<usize>) {
        if self.roles.pop() == Some(Role::Header) {
            self.header_end = end_offset;
        }
        self.c14n.end(end_offset);
    }

    #[inline]
    fn text(&mut self, text: std::borrow::Cow<'x, str>) {
        self.c14n.text(text);
    }

    fn pi(&mut self, pi: docaxis_xml::ProcessingInstruction<'x>) {
        self.c14n.pi(pi);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::find_header;
    use docaxis_xml::Document;

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

    /// The digest the streaming signer puts in DigestValue.
    fn signed_digest(signed: &[u8]) -> Vec<u8> {
        let parsed = docaxis_edxml::parse(signed, &Default::default()).unwrap();
        let info = parsed.message.signature().unwrap();
        B64.decode(&info.references[0].digest_value).unwrap()
    }

    /// The streaming signer digests exactly what the tree canonicalizer
    /// gives for the unsigned document, and puts the signature where
    /// `find_header` says the header ends, for each shape of document.
    #[test]
    fn streaming_sign_agrees_with_the_tree() {
        let signer = Signer::new(SigningKey::from_bytes(&[7; 32]), "k1");
        let example = docaxis_edxml::example_document_xml();
        let envelope_root = {
            // edXMLEnvelope as the root, as some systems send it.
            let start = example.find("<edXML:edXMLEnvelope").unwrap();
            let end = example.find("</edXML:edXMLEnvelope>").unwrap();
            let ns = docaxis_edxml::EDXML_NS;
            example[start..end].replacen(
                "<edXML:edXMLEnvelope",
                &format!("<edXML:edXMLEnvelope xmlns:edXML=\"{ns}\""),
                1,
            ) + "</edXML:edXMLEnvelope>"
        };
        let decorated = example.replacen(
            "<edXML:edXML ",
            "<?pi before?>\n<!-- c -->\n<edXML:edXML ",
            1,
        ) + "<?pi after?>\n";
        for xml in [example.clone(), envelope_root, decorated] {
            let doc = Document::parse(xml.as_bytes(), &Limits::default()).unwrap();
            let tree_digest = crate::document_digest(&doc, None);
            let signed = signer.sign(xml.as_bytes(), &Limits::default()).unwrap();
            assert_eq!(signed_digest(&signed), tree_digest);
            let at = find_header(&doc.root).unwrap().end_offset.unwrap();
            assert_eq!(&signed[..at], &xml.as_bytes()[..at]);
            assert!(signed[at..].starts_with(b"<Signature "));
        }
    }

    #[test]
    fn header_is_found_as_on_the_tree() {
        let signer = Signer::new(SigningKey::from_bytes(&[7; 32]), "k1");
        let ns = docaxis_edxml::EDXML_NS;
        let sign = |body: &str| {
            let xml = format!("<e:edXML xmlns:e=\"{ns}\">{body}</e:edXML>");
            signer.sign(xml.as_bytes(), &Limits::default())
        };
        // An empty header has nowhere to put the signature.
        assert_eq!(
            sign("<e:edXMLEnvelope><e:edXMLHeader/></e:edXMLEnvelope>"),
            Err(SignError::NotEdxml)
        );
        // A header outside the (first) envelope is not the header.
        assert_eq!(
            sign("<e:edXMLHeader><x/></e:edXMLHeader>"),
            Err(SignError::NotEdxml)
        );
        assert_eq!(
            sign("<e:edXMLEnvelope/><e:edXMLEnvelope><e:edXMLHeader><x/></e:edXMLHeader></e:edXMLEnvelope>"),
            Err(SignError::NotEdxml)
        );
        // A Signature in the header, in any namespace, means signed; one
        // deeper down does not (verification refuses it as wrapping).
        assert_eq!(
            sign("<e:edXMLEnvelope><e:edXMLHeader><Signature/></e:edXMLHeader></e:edXMLEnvelope>"),
            Err(SignError::AlreadySigned)
        );
        let deeper = sign(
            "<e:edXMLEnvelope><e:edXMLHeader><x><Signature/></x></e:edXMLHeader></e:edXMLEnvelope>",
        );
        assert!(deeper.is_ok());
        // Only the first header counts, as with `find_header`.
        let two = sign(
            "<e:edXMLEnvelope><e:edXMLHeader><x/></e:edXMLHeader><e:edXMLHeader><Signature/></e:edXMLHeader></e:edXMLEnvelope>",
        );
        assert!(two.is_ok());
        // XML errors come before structure.
        assert!(matches!(sign("<x>"), Err(SignError::Xml(_))));
    }

    /// The signature pieced together from the template is the one the
    /// serializer writes, for key ids with characters to escape too; a key
    /// id that holds a mark goes the slow way, with the same result.
    #[test]
    fn template_signature_is_the_serializers() {
        let digest = [9u8; 32];
        for key_id in ["k1", "k<&\"1", "!digest!", "a!signature!b"] {
            let signer = Signer::new(SigningKey::from_bytes(&[7; 32]), key_id);
            let mut info = signature_info(key_id, B64.encode(digest), String::new());
            let signed_info = signed_info_element(&info);
            info.signature_value = B64.encode(signer.key.sign(signed_info.as_bytes()).to_bytes());
            assert_eq!(
                signer.signature(&digest),
                signature_element(&info),
                "{key_id}"
            );
            assert_eq!(signer.template.is_none(), key_id.contains(SIGNATURE_MARK));
        }
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
