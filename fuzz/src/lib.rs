//! Shared by the fuzz targets and the corpus generator: documents built from
//! the seed articles, signed with the keys of a small agency directory.
//!
//! The directory mirrors `tests/src/lib.rs`'s fixture (same agencies, key
//! ids and seeds, so corpus files verify there too) but is built here: the
//! suites crate pulls in the whole axis (tokio, adapters), which has no
//! place in a sanitizer build.

use docaxis_directory::{Agency, AgencyKey, AgencyStatus, Directory, KeyId, SigningKey};
use docaxis_dsig::Signer;
use docaxis_edxml::{example_document, Attachment, Document, Message, OrganId};
use time::macros::datetime;
use time::OffsetDateTime;

/// The Office of the Government: sender of the example document.
pub const G22: &str = "000.00.00.G22";
/// The Ministry of Finance: a recipient.
pub const G12: &str = "000.00.00.G12";

/// (agency, key id, seed) of every current key.
const CURRENT: &[(&str, &str, u8)] = &[
    (G22, "G22-2022", 1),
    (G12, "G12-2022", 2),
    ("000.00.00.H41", "H41-2022", 3),
    ("000.00.00.G09", "G09-2022", 4),
    ("vxp.saas.03", "saas03-2022", 5),
];

fn organ(s: &str) -> OrganId {
    OrganId::parse(s).expect("fixture ids are valid")
}

/// A key derived from a one-byte seed.
pub fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// "Now" for every verification: half an hour after the example was sent.
pub fn now() -> OffsetDateTime {
    datetime!(2022-07-01 09:00:00 +7)
}

/// The agencies and their keys, in every state a key can be in (current,
/// revoked, expired, not yet valid; one agency suspended).
pub struct Fixture {
    /// The directory every target verifies against.
    pub directory: Directory,
}

impl Fixture {
    /// Builds the directory.
    pub fn new() -> Fixture {
        let mut d = Directory::new(datetime!(2022-01-01 00:00:00 UTC));
        for (id, key_id, seed) in CURRENT {
            d.add_agency(Agency::new(organ(id), format!("Agency {id}"), None))
                .unwrap();
            d.add_key(
                &organ(id),
                AgencyKey::new(
                    KeyId::parse(key_id).unwrap(),
                    key(*seed).verifying_key(),
                    datetime!(2022-01-01 00:00:00 UTC),
                    None,
                ),
            )
            .unwrap();
        }
        let extra = [
            ("G22-stolen", 21, datetime!(2020-01-01 00:00:00 UTC), None),
            (
                "G22-2021",
                22,
                datetime!(2021-01-01 00:00:00 UTC),
                Some(datetime!(2021-12-31 23:59:59 UTC)),
            ),
            ("G22-2023", 23, datetime!(2023-01-01 00:00:00 UTC), None),
        ];
        for (key_id, seed, from, until) in extra {
            d.add_key(
                &organ(G22),
                AgencyKey::new(
                    KeyId::parse(key_id).unwrap(),
                    key(seed).verifying_key(),
                    from,
                    until,
                ),
            )
            .unwrap();
        }
        d.revoke_key(
            &KeyId::parse("G22-stolen").unwrap(),
            datetime!(2022-06-01 00:00:00 UTC),
            "laptop stolen",
        )
        .unwrap();
        d.set_status(&organ("000.00.00.G09"), AgencyStatus::Suspended)
            .unwrap();
        Fixture { directory: d }
    }

    /// The current signer of an agency.
    pub fn signer(&self, agency: &str) -> Signer {
        let (_, key_id, seed) = CURRENT
            .iter()
            .find(|(id, _, _)| *id == agency)
            .expect("agency in the fixture");
        Signer::new(key(*seed), *key_id)
    }
}

impl Default for Fixture {
    fn default() -> Self {
        Fixture::new()
    }
}

/// The example document as sent by G22, unsigned.
pub fn document() -> Document {
    example_document()
}

/// The five seed articles of `seeds/`, embedded at compile time.
pub const ARTICLES: [(&str, &str); 5] = [
    ("000", include_str!("../../seeds/000_4709921e39f7032c.txt")),
    ("001", include_str!("../../seeds/001_90b979b84ffa9e39.txt")),
    ("002", include_str!("../../seeds/002_f09e5d419586afa8.txt")),
    ("003", include_str!("../../seeds/003_c3f26192a9f182c0.txt")),
    ("004", include_str!("../../seeds/004_3ae846884eb565ac.txt")),
];

/// The article's first sentence (up to `.`, `!`, `?` or a line end), at
/// most 500 characters: the document's Subject.
pub fn subject_of(article: &str) -> String {
    let text = article.trim_start();
    let end = text
        .char_indices()
        .find(|&(_, c)| matches!(c, '.' | '!' | '?' | '\n'))
        .map(|(i, c)| if c == '\n' { i } else { i + c.len_utf8() })
        .unwrap_or(text.len());
    text[..end].trim().chars().take(500).collect()
}

/// The example document with `article` as its Content and its first
/// sentence as Subject.
pub fn article_document(article: &str) -> Document {
    let mut d = document();
    d.header.subject = subject_of(article);
    d.header.content = article.to_string();
    d
}

/// [`article_document`] with its one attachment replaced by `size`
/// deterministic pseudo-random bytes.
pub fn with_attachment(mut d: Document, size: usize) -> Document {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let content = (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let a: &mut Attachment = &mut d.attachments[0];
    a.content = content;
    d
}

/// Serializes a document, unsigned.
pub fn unsigned(d: Document) -> Vec<u8> {
    docaxis_edxml::serialize(&Message::Document(Box::new(d)))
}

/// Serializes and signs a document as G22, with the fixture's key.
pub fn signed(fx: &Fixture, d: Document) -> Vec<u8> {
    fx.signer(G22)
        .sign_message(&Message::Document(Box::new(d)))
        .expect("fixture documents sign")
}
