//! Keys and the agency directory of docaxis.
//!
//! Every edXML document on the axis is signed by the sending agency, and the
//! signature names its key only by an id (`KeyInfo/KeyName`). This crate is
//! where such an id becomes a public key and an agency, and where docaxis
//! decides whether that key may be trusted for that signature:
//!
//! - [`keys`]: Ed25519 key files (PKCS#8 / SPKI PEM, private keys created
//!   with mode 0600 and never overwritten), validated key ids ([`KeyId`]) and
//!   key fingerprints.
//! - [`directory`]: the agency directory itself — every agency's `OrganId`,
//!   names, status and public keys with validity windows and revocations —
//!   with its invariants and [`Directory::resolve_key`], the one question
//!   signature verification asks.
//! - [`signed`]: the directory file, signed by the axis operator's root key;
//!   a directory whose signature fails is never handed out.
//!
//! The crate does no network I/O and holds no global state; the only files it
//! touches are the ones its callers name.

pub mod directory;
pub mod keys;
pub mod signed;

pub use directory::{
    Agency, AgencyKey, AgencyStatus, Directory, KeyError, KeyState, ResolvedKey, Revocation,
    RuleError, FUTURE_TOLERANCE,
};
pub use keys::{
    fingerprint, generate, read_private_key, read_public_key, write_key_pair, KeyFileError, KeyId,
    KeyIdError, PemError,
};
pub use signed::{DirectoryError, SignatureBlock, SignedDirectory};

/// Re-exported so callers (the CLI, the signature crate) name the same types
/// without depending on ed25519-dalek themselves.
pub use ed25519_dalek::{SigningKey, VerifyingKey};
