//! The fixture docaxis's test suites share: a small axis of agencies with
//! keys in every state a key can be in, and a clock fixed at the moment the
//! example document was sent.
//!
//! Keys are derived from fixed seeds, so every run (and every failure
//! report) is reproducible.

pub mod agencies;
pub mod faults;
pub mod hostile;

use docaxis_directory::{Agency, AgencyKey, AgencyStatus, Directory, KeyId, SigningKey};
use docaxis_dsig::Signer;
use docaxis_edxml::{example_document, Document, Message, OrganId};
use time::macros::datetime;
use time::OffsetDateTime;

/// The Office of the Government: sender of the example document.
pub const G22: &str = "000.00.00.G22";
/// The Ministry of Finance: a recipient; also has a revoked key.
pub const G12: &str = "000.00.00.G12";
/// Nghệ An: a recipient; also has an expired key.
pub const H41: &str = "000.00.00.H41";
/// The Ministry of Home Affairs: suspended in the directory.
pub const G09: &str = "000.00.00.G09";
/// A staging system with a free-form id, listed in the directory.
pub const STAGING: &str = "vxp.saas.03";

/// "Now" for every verification: half an hour after the example was sent.
pub fn now() -> OffsetDateTime {
    datetime!(2022-07-01 09:00:00 +7)
}

/// A key derived from a one-byte seed.
pub fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// The agencies, their keys and the signed-off directory.
pub struct Fixture {
    /// The directory every suite verifies against.
    pub directory: Directory,
    /// The operator's root key.
    pub root: SigningKey,
}

/// Key ids and seeds: (agency, key id, seed).
const CURRENT: &[(&str, &str, u8)] = &[
    (G22, "G22-2022", 1),
    (G12, "G12-2022", 2),
    (H41, "H41-2022", 3),
    (G09, "G09-2022", 4),
    (STAGING, "saas03-2022", 5),
];

fn organ(s: &str) -> OrganId {
    OrganId::parse(s).expect("fixture ids are valid")
}

impl Fixture {
    /// Builds the fixture.
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
        // G22's stolen old key, revoked last month.
        d.add_key(
            &organ(G22),
            AgencyKey::new(
                KeyId::parse("G22-stolen").unwrap(),
                key(21).verifying_key(),
                datetime!(2020-01-01 00:00:00 UTC),
                None,
            ),
        )
        .unwrap();
        d.revoke_key(
            &KeyId::parse("G22-stolen").unwrap(),
            datetime!(2022-06-01 00:00:00 UTC),
            "laptop stolen",
        )
        .unwrap();
        // G22's previous key, which expired at the end of 2021.
        d.add_key(
            &organ(G22),
            AgencyKey::new(
                KeyId::parse("G22-2021").unwrap(),
                key(22).verifying_key(),
                datetime!(2021-01-01 00:00:00 UTC),
                Some(datetime!(2021-12-31 23:59:59 UTC)),
            ),
        )
        .unwrap();
        // G22's next key, valid from next year.
        d.add_key(
            &organ(G22),
            AgencyKey::new(
                KeyId::parse("G22-2023").unwrap(),
                key(23).verifying_key(),
                datetime!(2023-01-01 00:00:00 UTC),
                None,
            ),
        )
        .unwrap();
        d.set_status(&organ(G09), AgencyStatus::Suspended).unwrap();
        Fixture {
            directory: d,
            root: key(99),
        }
    }

    /// The current signer of an agency of [`CURRENT`].
    pub fn signer(&self, agency: &str) -> Signer {
        let (_, key_id, seed) = CURRENT
            .iter()
            .find(|(id, _, _)| *id == agency)
            .expect("agency in the fixture");
        Signer::new(key(*seed), *key_id)
    }

    /// A signer with an explicit key (old, revoked, foreign ...).
    pub fn signer_with(&self, seed: u8, key_id: &str) -> Signer {
        Signer::new(key(seed), key_id)
    }
}

impl Default for Fixture {
    fn default() -> Self {
        Fixture::new()
    }
}

/// The example document as sent by `G22`, unsigned.
pub fn document() -> Document {
    example_document()
}

/// Serializes and signs a document with `signer`.
pub fn sign(signer: &Signer, doc: Document) -> Vec<u8> {
    signer
        .sign_message(&Message::Document(Box::new(doc)))
        .expect("fixture documents sign")
}

/// Replaces the first occurrence of `from` in `bytes`, failing loudly if it
/// is not there (a mutation that silently does nothing proves nothing).
pub fn replace_once(bytes: &[u8], from: &str, to: &str) -> Vec<u8> {
    let s = std::str::from_utf8(bytes).expect("UTF-8");
    assert!(s.contains(from), "mutation target {from:?} not found");
    s.replacen(from, to, 1).into_bytes()
}
