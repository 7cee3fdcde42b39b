//! Ed25519 key files, key ids and fingerprints.
//!
//! Private keys are stored as unencrypted PKCS#8 PEM (`-----BEGIN PRIVATE
//! KEY-----`), public keys as SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC
//! KEY-----`): the formats OpenSSL, Python's `cryptography` and most HSM
//! tooling read and write, so keys made here can be checked elsewhere and the
//! other way round.
//!
//! A private key file is created with mode 0600 in the same `open` call that
//! creates it (never written first and `chmod`ed after, which would leave a
//! window where it is readable), and with `create_new`, so an existing key —
//! possibly the only copy of an agency's signing key — is never overwritten.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use ed25519_dalek::pkcs8::spki::der::pem::{self, LineEnding};
use ed25519_dalek::pkcs8::spki::SubjectPublicKeyInfoRef;
use ed25519_dalek::pkcs8::{
    EncodePrivateKey, EncodePublicKey, KeypairBytes, ObjectIdentifier, PrivateKeyInfo,
    ALGORITHM_OID,
};
use ed25519_dalek::{SigningKey, VerifyingKey};
use rand_core::OsRng;
use sha2::{Digest, Sha256};

/// Key files are a few hundred bytes; anything much larger is not a key and
/// is refused before it is read into memory.
const MAX_KEY_FILE_LEN: u64 = 64 * 1024;

/// PEM label of an unencrypted PKCS#8 private key.
const PRIVATE_LABEL: &str = "PRIVATE KEY";
/// PEM label of a SubjectPublicKeyInfo public key.
const PUBLIC_LABEL: &str = "PUBLIC KEY";

/// A fresh Ed25519 signing key from the operating system's CSPRNG.
pub fn generate() -> SigningKey {
    SigningKey::generate(&mut OsRng)
}

/// A short, stable name for a public key: `sha256:` and the hex of the first
/// 16 bytes of SHA-256 over the raw 32-byte key.
///
/// Hashing the raw key (not its PEM or DER wrapping) means the same key has
/// the same fingerprint however it is stored. 128 bits is far beyond what an
/// operator comparing two fingerprints by eye, or a collision search, needs.
pub fn fingerprint(key: &VerifyingKey) -> String {
    let digest = Sha256::digest(key.as_bytes());
    let mut out = String::with_capacity(7 + 32);
    out.push_str("sha256:");
    for b in &digest[..16] {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

// ---------------------------------------------------------------------------
// Key ids
// ---------------------------------------------------------------------------

/// Longest key id accepted.
pub const MAX_KEY_ID_LEN: usize = 64;

/// A key identifier, as carried in a signature's `KeyInfo/KeyName` and listed
/// in the agency directory.
///
/// ASCII letters, digits, `.`, `-`, `_` and `:`, starting with a letter or
/// digit, at most [`MAX_KEY_ID_LEN`] bytes. The alphabet is kept small
/// because key ids come from untrusted documents and end up in logs, error
/// messages and file names; the first character is restricted so an id never
/// looks like a command-line option or a hidden file. A convention such as
/// `000.00.00.G22:2026-1` (agency, then a rotation label) reads well but is
/// not required: the directory, not the id's shape, says whose key it is.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(Box<str>);

/// Why a string is not a key id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyIdError {
    /// The string is empty.
    #[error("a key id is empty; use ASCII letters, digits, '.', '-', '_' or ':', e.g. 000.00.00.G22:2026-1")]
    Empty,
    /// The string is too long.
    #[error("key id is {0} bytes long; at most {MAX_KEY_ID_LEN} are allowed")]
    TooLong(usize),
    /// A character outside the alphabet.
    #[error("key id {id:?} contains {ch:?}; only ASCII letters, digits, '.', '-', '_' and ':' are allowed")]
    BadCharacter {
        /// The offending id.
        id: String,
        /// The first offending character.
        ch: char,
    },
    /// The id does not start with a letter or digit.
    #[error("key id {0:?} must start with a letter or a digit")]
    BadStart(String),
}

impl KeyId {
    /// Parses and validates a key id.
    pub fn parse(s: &str) -> Result<Self, KeyIdError> {
        if s.is_empty() {
            return Err(KeyIdError::Empty);
        }
        if s.len() > MAX_KEY_ID_LEN {
            return Err(KeyIdError::TooLong(s.len()));
        }
        if let Some(ch) = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':')))
        {
            return Err(KeyIdError::BadCharacter {
                id: s.to_owned(),
                ch,
            });
        }
        if !s.as_bytes()[0].is_ascii_alphanumeric() {
            return Err(KeyIdError::BadStart(s.to_owned()));
        }
        Ok(KeyId(s.into()))
    }

    /// The id as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.0)
    }
}

impl FromStr for KeyId {
    type Err = KeyIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        KeyId::parse(s)
    }
}

impl AsRef<str> for KeyId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl serde::Serialize for KeyId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for KeyId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        KeyId::parse(&s).map_err(serde::de::Error::custom)
    }
}

// ---------------------------------------------------------------------------
// PEM encoding and decoding
// ---------------------------------------------------------------------------

/// Why some bytes are not the Ed25519 key that was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PemError {
    /// Not a PEM block at all.
    #[error("is not a PEM key ({0}); expected a block starting with -----BEGIN PRIVATE KEY----- or -----BEGIN PUBLIC KEY-----")]
    NotPem(String),
    /// A PEM block of another kind (a public key where a private one is
    /// expected, a certificate, an OpenSSH key …).
    #[error("holds a PEM block labelled {found:?}{hint}, but {expected} is expected here")]
    WrongKind {
        /// The label found.
        found: String,
        /// What was expected, in words.
        expected: &'static str,
        /// A short explanation of the label found, if it is a known one.
        hint: &'static str,
    },
    /// An encrypted PKCS#8 private key.
    #[error("holds an encrypted private key; docaxis reads unencrypted PKCS#8 keys only (decrypt it with `openssl pkcs8 -in KEY -out PLAIN.key`, and keep the result mode 0600)")]
    Encrypted,
    /// A key for another algorithm.
    #[error(
        "holds a key for {0}; docaxis uses Ed25519 keys only (make one with `docaxis keygen`)"
    )]
    WrongAlgorithm(String),
    /// The right kind of block, but the content does not decode.
    #[error("holds a malformed Ed25519 key: {0}")]
    Malformed(String),
    /// A public key of small order, which would let anyone forge signatures.
    #[error("holds a weak Ed25519 public key (a point of small order) that would accept forged signatures; it is refused")]
    WeakKey,
}

/// The private key as PKCS#8 v1 PEM (the secret seed only, as OpenSSL's
/// `genpkey -algorithm ed25519` writes it). The v1 form is the most widely
/// readable; the public half is always derived from the seed anyway.
pub fn private_key_to_pem(key: &SigningKey) -> Result<secret::SecretPem, PemError> {
    let bytes = KeypairBytes {
        secret_key: key.to_bytes(),
        public_key: None,
    };
    bytes
        .to_pkcs8_pem(LineEnding::LF)
        .map(secret::SecretPem)
        .map_err(|e| PemError::Malformed(e.to_string()))
}

/// The public key as SubjectPublicKeyInfo PEM.
pub fn public_key_to_pem(key: &VerifyingKey) -> Result<String, PemError> {
    key.to_public_key_pem(LineEnding::LF)
        .map_err(|e| PemError::Malformed(e.to_string()))
}

/// Decodes a PKCS#8 PEM private key (v1, or v2 with the public key, which is
/// then checked against the seed).
pub fn private_key_from_pem(pem_bytes: &[u8]) -> Result<SigningKey, PemError> {
    let (label, der) = decode_pem(pem_bytes)?;
    match label.as_str() {
        PRIVATE_LABEL => {}
        "ENCRYPTED PRIVATE KEY" => return Err(PemError::Encrypted),
        _ => {
            return Err(wrong_kind(
                label,
                "a PKCS#8 private key (BEGIN PRIVATE KEY)",
            ))
        }
    }
    let der = secret::SecretBytes(der);
    let info = PrivateKeyInfo::try_from(der.0.as_slice())
        .map_err(|e| PemError::Malformed(format!("not a PKCS#8 structure: {e}")))?;
    check_algorithm(info.algorithm.oid)?;
    let pair = KeypairBytes::try_from(info).map_err(|e| PemError::Malformed(format!("{e}")))?;
    SigningKey::try_from(&pair).map_err(|_| {
        PemError::Malformed("the public key stored with the private key does not match it".into())
    })
}

/// Decodes a SubjectPublicKeyInfo PEM public key.
pub fn public_key_from_pem(pem_bytes: &[u8]) -> Result<VerifyingKey, PemError> {
    let (label, der) = decode_pem(pem_bytes)?;
    if label != PUBLIC_LABEL {
        return Err(wrong_kind(label, "a public key (BEGIN PUBLIC KEY)"));
    }
    let spki = SubjectPublicKeyInfoRef::try_from(der.as_slice())
        .map_err(|e| PemError::Malformed(format!("not a SubjectPublicKeyInfo structure: {e}")))?;
    check_algorithm(spki.algorithm.oid)?;
    if spki.algorithm.parameters.is_some() {
        return Err(PemError::Malformed(
            "Ed25519 algorithm identifiers carry no parameters".into(),
        ));
    }
    let raw: [u8; 32] = spki
        .subject_public_key
        .as_bytes()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| PemError::Malformed("the key is not 32 bytes long".into()))?;
    verifying_key_from_bytes(&raw)
}

/// A public key from its raw 32 bytes, refusing points that are not on the
/// curve and weak (small-order) points.
pub fn verifying_key_from_bytes(raw: &[u8; 32]) -> Result<VerifyingKey, PemError> {
    let key = VerifyingKey::from_bytes(raw)
        .map_err(|_| PemError::Malformed("the 32 bytes are not a point on the curve".into()))?;
    if key.is_weak() {
        return Err(PemError::WeakKey);
    }
    Ok(key)
}

fn decode_pem(bytes: &[u8]) -> Result<(String, Vec<u8>), PemError> {
    // Tolerate a UTF-8 BOM and surrounding blank lines, which editors on
    // Windows add; anything else around the block is refused by the decoder.
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let bytes = trim_ascii(bytes);
    if !bytes.starts_with(b"-----BEGIN ") {
        // The decoder's own message for this case is obscure; say it plainly.
        let what = if bytes.is_empty() {
            "the file is empty"
        } else if bytes.windows(11).any(|w| w == b"-----BEGIN ") {
            "text before the -----BEGIN line"
        } else {
            "no -----BEGIN line"
        };
        return Err(PemError::NotPem(what.into()));
    }
    let (label, der) = pem::decode_vec(bytes).map_err(|e| PemError::NotPem(e.to_string()))?;
    Ok((label.to_owned(), der))
}

fn trim_ascii(mut b: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = b {
        if first.is_ascii_whitespace() {
            b = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = b {
        if last.is_ascii_whitespace() {
            b = rest;
        } else {
            break;
        }
    }
    b
}

fn wrong_kind(found: String, expected: &'static str) -> PemError {
    let hint = match found.as_str() {
        PRIVATE_LABEL => " (a private key)",
        PUBLIC_LABEL => " (a public key)",
        "RSA PRIVATE KEY" | "RSA PUBLIC KEY" => " (an RSA key in PKCS#1 form)",
        "EC PRIVATE KEY" => " (an elliptic-curve key in SEC1 form)",
        "OPENSSH PRIVATE KEY" => " (an OpenSSH key)",
        "CERTIFICATE" => " (an X.509 certificate)",
        "ENCRYPTED PRIVATE KEY" => " (an encrypted private key)",
        _ => "",
    };
    PemError::WrongKind {
        found,
        expected,
        hint,
    }
}

fn check_algorithm(oid: ObjectIdentifier) -> Result<(), PemError> {
    if oid == ALGORITHM_OID {
        return Ok(());
    }
    let name = match oid.to_string().as_str() {
        "1.2.840.113549.1.1.1" => "RSA".to_owned(),
        "1.2.840.113549.1.1.10" => "RSA-PSS".to_owned(),
        "1.2.840.10045.2.1" => "elliptic-curve (ECDSA)".to_owned(),
        "1.3.101.113" => "Ed448".to_owned(),
        "1.3.101.110" => "X25519".to_owned(),
        "1.3.101.111" => "X448".to_owned(),
        other => format!("unknown algorithm (OID {other})"),
    };
    Err(PemError::WrongAlgorithm(name))
}

/// Secret-holding buffers that are wiped when dropped.
pub mod secret {
    /// A PEM-encoded private key; wiped from memory when dropped.
    pub struct SecretPem(pub(crate) ed25519_dalek::pkcs8::spki::der::zeroize::Zeroizing<String>);

    impl SecretPem {
        /// The PEM text.
        pub fn as_str(&self) -> &str {
            &self.0
        }
    }

    impl std::fmt::Debug for SecretPem {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("SecretPem(..)")
        }
    }

    /// Decoded DER of a private key; wiped from memory when dropped.
    pub(crate) struct SecretBytes(pub(crate) Vec<u8>);

    impl Drop for SecretBytes {
        fn drop(&mut self) {
            use ed25519_dalek::pkcs8::spki::der::zeroize::Zeroize;
            self.0.zeroize();
        }
    }
}

// ---------------------------------------------------------------------------
// Key files
// ---------------------------------------------------------------------------

/// What went wrong with a key file. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// The file exists; keys are never overwritten.
    #[error("refusing to overwrite {}: the file already exists (keys are never overwritten; choose another name or move the old key away first)", .path.display())]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// Creating or writing the file failed.
    #[error("cannot write {}: {cause}", .path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        cause: io::Error,
    },
    /// Reading the file failed.
    #[error("cannot read {}: {cause}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        cause: io::Error,
    },
    /// The file is far too large to be a key.
    #[error("{} is {len} bytes long, too large to be a key file (at most {MAX_KEY_FILE_LEN})", .path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its length.
        len: u64,
    },
    /// The content is not the key expected.
    #[error("{} {cause}", .path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong with the content.
        cause: PemError,
    },
}

/// Writes a private key as PKCS#8 PEM to a new file with mode 0600.
///
/// Fails with [`KeyFileError::Exists`] if `path` exists (including a dangling
/// symlink: `create_new` does not follow links, so a planted link cannot
/// redirect the key elsewhere).
pub fn write_private_key(path: &Path, key: &SigningKey) -> Result<(), KeyFileError> {
    let pem = private_key_to_pem(key).map_err(|source| KeyFileError::Pem {
        path: path.to_owned(),
        cause: source,
    })?;
    write_new_file(path, pem.as_str().as_bytes(), 0o600)
}

/// Writes a public key as SPKI PEM to a new file with mode 0644.
pub fn write_public_key(path: &Path, key: &VerifyingKey) -> Result<(), KeyFileError> {
    let pem = public_key_to_pem(key).map_err(|source| KeyFileError::Pem {
        path: path.to_owned(),
        cause: source,
    })?;
    write_new_file(path, pem.as_bytes(), 0o644)
}

/// Writes a key pair: the private key (0600) and its public half (0644).
///
/// Both paths are checked before anything is written, and if the second
/// write fails the first file is removed, so a failed run leaves no half
/// pair behind.
pub fn write_key_pair(
    private_path: &Path,
    public_path: &Path,
    key: &SigningKey,
) -> Result<(), KeyFileError> {
    for p in [private_path, public_path] {
        if p.symlink_metadata().is_ok() {
            return Err(KeyFileError::Exists { path: p.to_owned() });
        }
    }
    write_private_key(private_path, key)?;
    if let Err(e) = write_public_key(public_path, &key.verifying_key()) {
        let _ = fs::remove_file(private_path);
        return Err(e);
    }
    Ok(())
}

/// Reads a PKCS#8 PEM Ed25519 private key.
pub fn read_private_key(path: &Path) -> Result<SigningKey, KeyFileError> {
    let bytes = secret::SecretBytes(read_small(path)?);
    private_key_from_pem(&bytes.0).map_err(|source| KeyFileError::Pem {
        path: path.to_owned(),
        cause: source,
    })
}

/// Reads an SPKI PEM Ed25519 public key.
pub fn read_public_key(path: &Path) -> Result<VerifyingKey, KeyFileError> {
    let bytes = read_small(path)?;
    public_key_from_pem(&bytes).map_err(|source| KeyFileError::Pem {
        path: path.to_owned(),
        cause: source,
    })
}

fn read_small(path: &Path) -> Result<Vec<u8>, KeyFileError> {
    let read_err = |source| KeyFileError::Read {
        path: path.to_owned(),
        cause: source,
    };
    let file = File::open(path).map_err(read_err)?;
    let mut buf = Vec::new();
    // Read one byte past the limit to tell "exactly at the limit" from "over".
    file.take(MAX_KEY_FILE_LEN + 1)
        .read_to_end(&mut buf)
        .map_err(read_err)?;
    if buf.len() as u64 > MAX_KEY_FILE_LEN {
        return Err(KeyFileError::TooLarge {
            path: path.to_owned(),
            len: buf.len() as u64,
        });
    }
    Ok(buf)
}

fn write_new_file(path: &Path, content: &[u8], mode: u32) -> Result<(), KeyFileError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|source| {
            if source.kind() == io::ErrorKind::AlreadyExists {
                KeyFileError::Exists {
                    path: path.to_owned(),
                }
            } else {
                KeyFileError::Write {
                    path: path.to_owned(),
                    cause: source,
                }
            }
        })?;
    // A key that is lost in a crash right after "written" is reported would
    // be worse than a slow keygen: flush to disk before returning.
    if let Err(source) = file.write_all(content).and_then(|()| file.sync_all()) {
        drop(file);
        // We created this file a moment ago; remove the partial key so a retry
        // is not refused by our own leftovers.
        let _ = fs::remove_file(path);
        return Err(KeyFileError::Write {
            path: path.to_owned(),
            cause: source,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn tmp() -> tempfile::TempDir {
        tempfile::tempdir().expect("temp dir")
    }

    #[test]
    fn pem_round_trip() {
        let key = generate();
        let pem = private_key_to_pem(&key).unwrap();
        assert!(pem.as_str().starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let back = private_key_from_pem(pem.as_str().as_bytes()).unwrap();
        assert_eq!(back.to_bytes(), key.to_bytes());

        let pub_pem = public_key_to_pem(&key.verifying_key()).unwrap();
        assert!(pub_pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        assert_eq!(
            public_key_from_pem(pub_pem.as_bytes()).unwrap(),
            key.verifying_key()
        );
    }

    #[test]
    fn reads_openssl_and_rfc8410_keys() {
        // RFC 8410 §10.3 example private key (v1, as `openssl genpkey` writes).
        let private = b"-----BEGIN PRIVATE KEY-----\n\
            MC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n\
            -----END PRIVATE KEY-----\n";
        let key = private_key_from_pem(private).unwrap();
        // RFC 8410 §10.1 example public key: the public half of the above.
        let public = b"-----BEGIN PUBLIC KEY-----\n\
            MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n\
            -----END PUBLIC KEY-----\n";
        let vk = public_key_from_pem(public).unwrap();
        assert_eq!(key.verifying_key(), vk);
        // v2 PKCS#8 (with the public key) as ed25519-dalek writes it also reads.
        let k = generate();
        let v2 = k.to_pkcs8_pem(LineEnding::LF).unwrap();
        assert_eq!(
            private_key_from_pem(v2.as_bytes()).unwrap().to_bytes(),
            k.to_bytes()
        );
    }

    #[test]
    fn wrong_content_is_named() {
        let key = generate();
        let pub_pem = public_key_to_pem(&key.verifying_key()).unwrap();
        let priv_pem = private_key_to_pem(&key).unwrap();

        assert!(matches!(
            private_key_from_pem(b"hello"),
            Err(PemError::NotPem(_))
        ));
        let e = private_key_from_pem(pub_pem.as_bytes()).unwrap_err();
        assert!(matches!(e, PemError::WrongKind { .. }), "{e}");
        assert!(e.to_string().contains("a public key"), "{e}");
        let e = public_key_from_pem(priv_pem.as_str().as_bytes()).unwrap_err();
        assert!(matches!(e, PemError::WrongKind { .. }), "{e}");

        // An X25519 public key (RFC 8410 §10.2): right structure, wrong algorithm.
        let x25519 = b"-----BEGIN PUBLIC KEY-----\n\
            MCowBQYDK2VuAyEAhAxlBAaQ7mcYqLfZmNn0EI9HxLfl+UgW0Xa3XUUhoG4=\n\
            -----END PUBLIC KEY-----\n";
        let e = public_key_from_pem(x25519).unwrap_err();
        assert_eq!(e, PemError::WrongAlgorithm("X25519".into()));

        let encrypted =
            b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n";
        assert_eq!(
            private_key_from_pem(encrypted).unwrap_err(),
            PemError::Encrypted
        );

        let garbage = b"-----BEGIN PUBLIC KEY-----\nMAA=\n-----END PUBLIC KEY-----\n";
        assert!(matches!(
            public_key_from_pem(garbage),
            Err(PemError::Malformed(_))
        ));
    }

    #[test]
    fn weak_public_keys_are_refused() {
        // The identity point (small order) encoded as a public key.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(
            verifying_key_from_bytes(&identity).unwrap_err(),
            PemError::WeakKey
        );
    }

    #[test]
    fn key_files_round_trip_with_private_mode() {
        let dir = tmp();
        let key = generate();
        let sk = dir.path().join("agency.key");
        let pk = dir.path().join("agency.pub");
        write_key_pair(&sk, &pk, &key).unwrap();

        let mode = fs::metadata(&sk).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "private key readable by others: {mode:o}");
        assert_eq!(
            mode & 0o600,
            0o600,
            "private key not owner read/write: {mode:o}"
        );

        assert_eq!(read_private_key(&sk).unwrap().to_bytes(), key.to_bytes());
        assert_eq!(read_public_key(&pk).unwrap(), key.verifying_key());

        // Swapped files: each error names the file and what is wrong.
        let e = read_public_key(&sk).unwrap_err().to_string();
        assert!(
            e.contains("agency.key") && e.contains("a private key"),
            "{e}"
        );
        let e = read_private_key(&dir.path().join("missing.key"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing.key"), "{e}");
    }

    #[test]
    fn existing_key_is_never_overwritten() {
        let dir = tmp();
        let sk = dir.path().join("root.key");
        let pk = dir.path().join("root.pub");
        let first = generate();
        write_key_pair(&sk, &pk, &first).unwrap();
        let before = fs::read(&sk).unwrap();

        let e = write_private_key(&sk, &generate()).unwrap_err();
        assert!(matches!(e, KeyFileError::Exists { .. }));
        assert!(e.to_string().contains("root.key"), "{e}");
        let e = write_key_pair(&sk, &pk, &generate()).unwrap_err();
        assert!(matches!(e, KeyFileError::Exists { .. }));
        assert_eq!(fs::read(&sk).unwrap(), before);

        // Only the public half exists: nothing is written at all.
        let sk2 = dir.path().join("other.key");
        let e = write_key_pair(&sk2, &pk, &generate()).unwrap_err();
        assert!(matches!(e, KeyFileError::Exists { .. }));
        assert!(!sk2.exists());
    }

    #[test]
    fn oversized_key_file_is_refused() {
        let dir = tmp();
        let p = dir.path().join("big.pub");
        fs::write(&p, vec![b'A'; 70_000]).unwrap();
        assert!(matches!(
            read_public_key(&p),
            Err(KeyFileError::TooLarge { .. })
        ));
    }

    #[test]
    fn key_ids() {
        for ok in ["000.00.00.G22:2026-1", "k1", "vxp.saas.03_key-A"] {
            assert_eq!(KeyId::parse(ok).unwrap().as_str(), ok);
        }
        assert_eq!(KeyId::parse(""), Err(KeyIdError::Empty));
        assert_eq!(KeyId::parse(&"a".repeat(65)), Err(KeyIdError::TooLong(65)));
        assert!(KeyId::parse(&"a".repeat(64)).is_ok());
        assert!(matches!(
            KeyId::parse("a b"),
            Err(KeyIdError::BadCharacter { ch: ' ', .. })
        ));
        assert!(matches!(
            KeyId::parse("khóa"),
            Err(KeyIdError::BadCharacter { .. })
        ));
        assert!(matches!(KeyId::parse("-rf"), Err(KeyIdError::BadStart(_))));
        assert!(matches!(KeyId::parse(":x"), Err(KeyIdError::BadStart(_))));
        let json = serde_json::to_string(&KeyId::parse("k1").unwrap()).unwrap();
        assert_eq!(json, "\"k1\"");
        assert!(serde_json::from_str::<KeyId>("\"a/b\"").is_err());
    }

    #[test]
    fn fingerprint_is_of_the_raw_key() {
        let key = generate().verifying_key();
        let fp = fingerprint(&key);
        assert_eq!(fp.len(), "sha256:".len() + 32);
        assert!(fp.starts_with("sha256:"));
        let digest = Sha256::digest(key.as_bytes());
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(fp, format!("sha256:{hex}"));
        assert_ne!(fp, fingerprint(&generate().verifying_key()));
    }
}
