//! Inputs shared by the `docs` (Criterion) and `summary` benchmarks: the
//! five seed articles as edXML documents and one with a 1 MB attachment,
//! each unsigned and signed, with a key and a directory built inline (the
//! test fixture crate depends on this one, so it cannot be used here).

#![allow(dead_code)]

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use docaxis_directory::{Agency, AgencyKey, Directory, KeyId, SigningKey};
use docaxis_dsig::Signer;
use docaxis_edxml::{example_document, Document, Message, OrganId};
use ed25519_dalek::{Signature, Signer as _};
use time::macros::datetime;
use time::OffsetDateTime;

/// The seed articles, embedded at compile time.
pub const ARTICLES: [(&str, &str); 5] = [
    (
        "seed000",
        include_str!("../../../../seeds/000_4709921e39f7032c.txt"),
    ),
    (
        "seed001",
        include_str!("../../../../seeds/001_90b979b84ffa9e39.txt"),
    ),
    (
        "seed002",
        include_str!("../../../../seeds/002_f09e5d419586afa8.txt"),
    ),
    (
        "seed003",
        include_str!("../../../../seeds/003_c3f26192a9f182c0.txt"),
    ),
    (
        "seed004",
        include_str!("../../../../seeds/004_3ae846884eb565ac.txt"),
    ),
];

/// The sender of the example document.
pub const SENDER: &str = "000.00.00.G22";
/// Its key id in the directory.
pub const KEY_ID: &str = "G22-2022";

/// The sender's key.
pub fn signing_key() -> SigningKey {
    SigningKey::from_bytes(&[1; 32])
}

/// The signer the benchmarks use.
pub fn signer() -> Signer {
    Signer::new(signing_key(), KEY_ID)
}

/// A directory listing the sender with [`signing_key`].
pub fn directory() -> Directory {
    let organ = OrganId::parse(SENDER).expect("valid id");
    let mut d = Directory::new(datetime!(2022-01-01 00:00:00 UTC));
    d.add_agency(Agency::new(organ.clone(), "Văn phòng Chính phủ", None))
        .expect("new agency");
    d.add_key(
        &organ,
        AgencyKey::new(
            KeyId::parse(KEY_ID).expect("valid key id"),
            signing_key().verifying_key(),
            datetime!(2022-01-01 00:00:00 UTC),
            None,
        ),
    )
    .expect("new key");
    d
}

/// "Now" for verification: half an hour after the example was sent.
pub fn now() -> OffsetDateTime {
    datetime!(2022-07-01 09:00:00 +7)
}

/// The article's first sentence (up to `.`, `!`, `?` or a line end), at
/// most 500 characters.
pub fn subject_of(article: &str) -> String {
    let text = article.trim_start();
    let end = text
        .char_indices()
        .find(|&(_, c)| matches!(c, '.' | '!' | '?' | '\n'))
        .map(|(i, c)| if c == '\n' { i } else { i + c.len_utf8() })
        .unwrap_or(text.len());
    text[..end].trim().chars().take(500).collect()
}

/// The example document with `article` as Content.
pub fn article_document(article: &str) -> Document {
    let mut d = example_document();
    d.header.subject = subject_of(article);
    d.header.content = article.to_string();
    d
}

/// The example document whose one attachment is `size` pseudo-random bytes
/// (incompressible, like a scanned PDF).
pub fn attachment_document(size: usize) -> Document {
    let mut d = example_document();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    d.attachments[0].content = (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    d.attachments[0].content_type = "application/pdf".into();
    d
}

/// One benchmark input.
pub struct Input {
    /// Short name for tables.
    pub name: String,
    /// Content length (article bytes or attachment bytes).
    pub payload: usize,
    /// Serialized, unsigned.
    pub unsigned: Vec<u8>,
    /// Serialized and signed.
    pub signed: Vec<u8>,
}

/// The names of the benchmark documents, in table order.
pub fn names() -> Vec<&'static str> {
    let mut v: Vec<&str> = ARTICLES.iter().map(|(n, _)| *n).collect();
    v.push("attach1MB");
    v
}

/// One document by name: a seed article, or `attach1MB`.
pub fn input(name: &str) -> Input {
    let (payload, d) = match ARTICLES.iter().find(|(n, _)| *n == name) {
        Some((_, text)) => (text.len(), article_document(text)),
        None if name == "attach1MB" => (1 << 20, attachment_document(1 << 20)),
        None => panic!("unknown benchmark document {name:?}"),
    };
    let unsigned = docaxis_edxml::serialize(&Message::Document(Box::new(d)));
    let signed = signer()
        .sign(&unsigned, &docaxis_xml::Limits::default())
        .expect("bench documents sign");
    Input {
        name: name.to_string(),
        payload,
        unsigned,
        signed,
    }
}

/// The five articles and the 1 MB attachment document.
pub fn inputs() -> Vec<Input> {
    names().into_iter().map(input).collect()
}

/// The bare crypto of signing: SHA-256 of the bytes, Ed25519 over the digest.
pub fn bare_sign(key: &SigningKey, bytes: &[u8]) -> Signature {
    let digest = docaxis_dsig::sha256(bytes);
    key.sign(&digest)
}

/// The bare crypto of verifying: SHA-256 of the bytes, Ed25519 (strict)
/// verification over the digest.
pub fn bare_verify(key: &ed25519_dalek::VerifyingKey, bytes: &[u8], sig: &Signature) -> bool {
    let digest = docaxis_dsig::sha256(bytes);
    key.verify_strict(&digest, sig).is_ok()
}

/// Keeps a signature's base64 form alive so the optimizer cannot drop it.
pub fn sig_b64(sig: &Signature) -> String {
    B64.encode(sig.to_bytes())
}
