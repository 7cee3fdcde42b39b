//! The signed directory file.
//!
//! The agency directory decides whose signatures docaxis trusts, so the file
//! is itself signed, by the axis operator's root key (Ed25519), and a
//! directory is only ever handed out after that signature has been checked.
//! The file is pretty-printed JSON, for people to read and diff:
//!
//! ```json
//! {
//!   "directory": { "serial": 7, "issued_at": "2026-11-22T12:00:00Z", "agencies": [ … ] },
//!   "signature": { "algorithm": "ed25519", "key": "sha256:…", "value": "<base64>" }
//! }
//! ```
//!
//! # What is signed
//!
//! The signature covers `b"docaxis agency directory v1\n"` followed by the
//! compact `serde_json` encoding of the [`Directory`]. The prefix separates
//! domains: a signature the root key makes over anything else can never be
//! taken for a directory signature.
//!
//! The signed bytes are not the file's bytes: on load, the `directory` value
//! is parsed and re-encoded, and the signature is checked against that
//! encoding. This works because the encoding is deterministic — one value
//! has exactly one encoding:
//!
//! - structs serialize their fields in declaration order, and the directory
//!   contains no maps (whose order could vary), only vectors kept in order;
//! - compact `serde_json` writes no whitespace, integers in plain decimal,
//!   and escapes strings the same way every time (only `"`, `\` and control
//!   characters; everything else, Vietnamese included, as raw UTF-8);
//! - times are written by `time`'s RFC 3339 formatter, which reproduces the
//!   offset it parsed and writes fractional seconds without trailing zeros,
//!   so formatting what was parsed gives back the same text;
//! - public keys are canonical standard base64 (the decoder refuses other
//!   spellings of the same bytes), enums are fixed strings, absent optional
//!   values are always written as `null`.
//!
//! And parsing loses nothing that the encoding would carry: every struct
//! refuses unknown fields (and serde refuses duplicated ones), so no content
//! can ride along outside the signature. Hence: any change to the content
//! changes the re-encoded bytes and fails the signature, while changes that
//! leave the content the same (indentation, `\u` escapes) are accepted, as
//! they should be — the signature vouches for the content, not the layout.
//! The signature is checked before the directory's own rules, so a tampered
//! file is reported as tampered, not as whatever rule the tampering broke.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::directory::{Directory, RuleError, UncheckedDirectory};
use crate::keys::fingerprint;

/// The only signature algorithm of directory files.
pub const SIGNATURE_ALGORITHM: &str = "ed25519";

/// Prefixed to the encoded directory before signing (see the module docs).
const DOMAIN: &[u8] = b"docaxis agency directory v1\n";

/// A directory of a few thousand agencies is a few megabytes; a file far
/// larger is refused before it is parsed.
pub const MAX_DIRECTORY_FILE_LEN: u64 = 64 * 1024 * 1024;

/// The `signature` member of a directory file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureBlock {
    /// Always [`SIGNATURE_ALGORITHM`].
    pub algorithm: String,
    /// Fingerprint of the root key that signed (see [`crate::fingerprint`]).
    pub key: String,
    /// The 64-byte Ed25519 signature, standard base64.
    pub value: String,
}

/// A directory with its root signature, ready to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedDirectory {
    directory: Directory,
    signature: SignatureBlock,
}

/// Why a directory file was refused, or could not be written.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// The file could not be read.
    #[error("cannot read the directory file {}: {cause}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        cause: io::Error,
    },
    /// The file is far too large.
    #[error(
        "the directory file is {0} bytes long, more than the {MAX_DIRECTORY_FILE_LEN} accepted"
    )]
    TooLarge(u64),
    /// Not JSON of the expected shape.
    #[error("not a signed agency directory file: {0}")]
    Syntax(serde_json::Error),
    /// No `signature` member.
    #[error("the directory file is not signed; docaxis only trusts a directory signed by the axis operator's root key — get a signed copy from the operator")]
    MissingSignature,
    /// A signature algorithm other than Ed25519.
    #[error("the directory is signed with algorithm {0:?}; only \"ed25519\" is accepted")]
    UnsupportedAlgorithm(String),
    /// Signed by a different root key.
    #[error("the directory is signed by root key {found}, not by the expected root key {expected}; either the root public key given is not this axis's, or the file did not come from the axis operator")]
    WrongRootKey {
        /// Fingerprint of the root key that was expected.
        expected: String,
        /// Fingerprint the file claims (untrusted; truncated).
        found: String,
    },
    /// The signature value is not a well-formed Ed25519 signature.
    #[error("the directory's signature is malformed ({0}); the file is damaged — get a fresh copy from the axis operator")]
    MalformedSignature(String),
    /// The signature does not match the content.
    #[error("the directory's signature does not match its content: the file was changed after it was signed; do not use it — get a fresh copy from the axis operator")]
    SignatureMismatch,
    /// Correctly signed, but breaks a directory rule.
    #[error("the directory is correctly signed but breaks a directory rule: {0}")]
    Invalid(RuleError),
    /// The directory could not be encoded (e.g. a date RFC 3339 cannot
    /// express).
    #[error("cannot encode the directory: {0}")]
    Encode(serde_json::Error),
    /// The file could not be written.
    #[error("cannot write the directory file {}: {cause}", .path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        cause: io::Error,
    },
    /// The file exists and must not be replaced.
    #[error("refusing to overwrite {}: the file already exists (to change an existing directory use the add, add-key or revoke commands)", .path.display())]
    Exists {
        /// The file.
        path: PathBuf,
    },
}

/// The file as read: the signature is optional here so that its absence is
/// reported as such rather than as a JSON error.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileIn {
    directory: UncheckedDirectory,
    signature: Option<SignatureBlock>,
}

#[derive(Serialize)]
struct FileOut<'a> {
    directory: &'a Directory,
    signature: &'a SignatureBlock,
}

impl SignedDirectory {
    /// Signs a directory with the root key.
    pub fn sign(directory: &Directory, root: &SigningKey) -> Result<Self, DirectoryError> {
        let message = signed_bytes(directory)?;
        let signature = root.sign(&message);
        Ok(SignedDirectory {
            directory: directory.clone(),
            signature: SignatureBlock {
                algorithm: SIGNATURE_ALGORITHM.to_owned(),
                key: fingerprint(&root.verifying_key()),
                value: STANDARD.encode(signature.to_bytes()),
            },
        })
    }

    /// The directory.
    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// The signature.
    pub fn signature(&self) -> &SignatureBlock {
        &self.signature
    }

    /// The file content: pretty JSON with a final newline.
    pub fn to_json(&self) -> Result<String, DirectoryError> {
        let mut s = serde_json::to_string_pretty(&FileOut {
            directory: &self.directory,
            signature: &self.signature,
        })
        .map_err(DirectoryError::Encode)?;
        s.push('\n');
        Ok(s)
    }

    /// Writes the file atomically, replacing any existing one: readers see
    /// the old file or the new one, never a half-written one, even if the
    /// machine fails mid-write.
    pub fn save(&self, path: &Path) -> Result<(), DirectoryError> {
        write_atomically(path, self.to_json()?.as_bytes(), Replace::Yes)
    }

    /// Like [`save`](Self::save), but refuses to replace an existing file
    /// (for creating a new directory).
    pub fn save_new(&self, path: &Path) -> Result<(), DirectoryError> {
        write_atomically(path, self.to_json()?.as_bytes(), Replace::No)
    }

    /// Reads a directory file and returns the directory only if it is signed
    /// by `root`, unchanged, and keeps the directory rules.
    pub fn load(path: &Path, root: &VerifyingKey) -> Result<Directory, DirectoryError> {
        let read_err = |source| DirectoryError::Read {
            path: path.to_owned(),
            cause: source,
        };
        let file = File::open(path).map_err(read_err)?;
        let mut bytes = Vec::new();
        file.take(MAX_DIRECTORY_FILE_LEN + 1)
            .read_to_end(&mut bytes)
            .map_err(read_err)?;
        Self::load_bytes(&bytes, root)
    }

    /// [`load`](Self::load) from bytes already read.
    pub fn load_bytes(bytes: &[u8], root: &VerifyingKey) -> Result<Directory, DirectoryError> {
        if bytes.len() as u64 > MAX_DIRECTORY_FILE_LEN {
            return Err(DirectoryError::TooLarge(bytes.len() as u64));
        }
        let file: FileIn = serde_json::from_slice(bytes).map_err(DirectoryError::Syntax)?;
        let sig = file.signature.ok_or(DirectoryError::MissingSignature)?;
        if sig.algorithm != SIGNATURE_ALGORITHM {
            return Err(DirectoryError::UnsupportedAlgorithm(truncate(
                &sig.algorithm,
            )));
        }
        let expected = fingerprint(root);
        if sig.key != expected {
            return Err(DirectoryError::WrongRootKey {
                expected,
                found: truncate(&sig.key),
            });
        }
        let raw = STANDARD
            .decode(sig.value.as_bytes())
            .map_err(|e| DirectoryError::MalformedSignature(format!("not base64: {e}")))?;
        let raw: [u8; 64] = raw.as_slice().try_into().map_err(|_| {
            DirectoryError::MalformedSignature(format!(
                "{} bytes where an Ed25519 signature has 64",
                raw.len()
            ))
        })?;
        let signature = Signature::from_bytes(&raw);

        // Check the signature over the re-encoded content first, and only
        // then the directory rules (see the module docs).
        let directory = file.directory.into_unvalidated();
        let message = signed_bytes(&directory)?;
        // `verify_strict` also refuses non-canonical (malleable) signatures
        // and weak public keys.
        root.verify_strict(&message, &signature)
            .map_err(|_| DirectoryError::SignatureMismatch)?;
        directory.validate().map_err(DirectoryError::Invalid)?;
        Ok(directory)
    }
}

/// The exact bytes a directory signature covers (see the module docs).
pub fn signed_bytes(directory: &Directory) -> Result<Vec<u8>, DirectoryError> {
    let mut out = DOMAIN.to_vec();
    serde_json::to_writer(&mut out, directory).map_err(DirectoryError::Encode)?;
    Ok(out)
}

/// Untrusted strings from the file are cut short before going into messages.
fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Replace {
    Yes,
    No,
}

/// Writes `content` to a temporary file in the destination's directory,
/// flushes it to disk, then moves it into place (`rename` to replace;
/// `link` to create, which fails if the destination exists, so creating
/// never clobbers even when racing another writer), and finally flushes the
/// directory entry so the change survives a crash.
fn write_atomically(path: &Path, content: &[u8], replace: Replace) -> Result<(), DirectoryError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let write_err = |source| DirectoryError::Write {
        path: path.to_owned(),
        cause: source,
    };
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| write_err(io::Error::other("the path does not name a file")))?;
    let tmp = parent.join(format!(
        ".{}.tmp-{}-{}",
        name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));

    let result = (|| -> Result<(), DirectoryError> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&tmp)
            .map_err(write_err)?;
        f.write_all(content)
            .and_then(|()| f.sync_all())
            .map_err(write_err)?;
        drop(f);
        match replace {
            Replace::Yes => fs::rename(&tmp, path).map_err(write_err)?,
            Replace::No => {
                fs::hard_link(&tmp, path).map_err(|e| {
                    if e.kind() == io::ErrorKind::AlreadyExists {
                        DirectoryError::Exists {
                            path: path.to_owned(),
                        }
                    } else {
                        write_err(e)
                    }
                })?;
                let _ = fs::remove_file(&tmp);
            }
        }
        File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(write_err)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::{Agency, AgencyKey, Directory};
    use crate::keys::{generate, KeyId};
    use docaxis_edxml::OrganId;
    use time::macros::datetime;

    fn sample() -> Directory {
        let mut d = Directory::new(datetime!(2026-11-22 12:00 +07:00));
        let vpcp = OrganId::parse("000.00.00.G22").unwrap();
        d.add_agency(Agency::new(
            vpcp.clone(),
            "Văn phòng Chính phủ",
            Some("Office of the Government".into()),
        ))
        .unwrap();
        d.add_key(
            &vpcp,
            AgencyKey::new(
                KeyId::parse("000.00.00.G22:2026-1").unwrap(),
                generate().verifying_key(),
                datetime!(2026-01-01 00:00 +07:00),
                Some(datetime!(2027-01-01 00:00:00.5 UTC)),
            ),
        )
        .unwrap();
        d.add_agency(Agency::new(
            OrganId::parse("000.00.00.H41").unwrap(),
            "UBND tỉnh Nghệ An \"thử\" \\ ký tự",
            None,
        ))
        .unwrap();
        d.revoke_key(
            &KeyId::parse("000.00.00.G22:2026-1").unwrap(),
            datetime!(2026-06-01 00:00 UTC),
            "lộ khóa (key compromised)",
        )
        .unwrap();
        d
    }

    #[test]
    fn sign_and_load_round_trip() {
        let root = generate();
        let d = sample();
        let signed = SignedDirectory::sign(&d, &root).unwrap();
        let json = signed.to_json().unwrap();
        let back = SignedDirectory::load_bytes(json.as_bytes(), &root.verifying_key()).unwrap();
        assert_eq!(back, d);
        // Re-signing the loaded value gives the same file (Ed25519 is
        // deterministic), which shows the encoding is stable.
        assert_eq!(
            SignedDirectory::sign(&back, &root)
                .unwrap()
                .to_json()
                .unwrap(),
            json
        );
        assert!(json.contains("\"algorithm\": \"ed25519\""));
        assert!(json.contains(&fingerprint(&root.verifying_key())));
    }

    #[test]
    fn every_single_byte_change_is_refused() {
        let root = generate();
        let json = SignedDirectory::sign(&sample(), &root)
            .unwrap()
            .to_json()
            .unwrap();
        let bytes = json.as_bytes();
        let mut refused = 0;
        // Flip the low bit of every byte — content, field names, punctuation,
        // the signature value, the key fingerprint.
        for i in 0..bytes.len() {
            let mut t = bytes.to_vec();
            t[i] ^= 0x01;
            match SignedDirectory::load_bytes(&t, &root.verifying_key()) {
                Err(_) => refused += 1,
                Ok(_) => panic!(
                    "a change at byte {i} was accepted: {:?}",
                    String::from_utf8_lossy(&t[i.saturating_sub(20)..(i + 20).min(t.len())])
                ),
            }
        }
        assert_eq!(refused, bytes.len());
    }

    #[test]
    fn tampered_content_is_refused_as_tampered() {
        let root = generate();
        let json = SignedDirectory::sign(&sample(), &root)
            .unwrap()
            .to_json()
            .unwrap();
        let vk = root.verifying_key();
        for (from, to) in [
            ("\"serial\": 1", "\"serial\": 2"),
            ("Văn phòng", "Văn phong"),
            ("\"status\": \"active\"", "\"status\": \"suspended\""),
            ("\"revoked\": {", "\"revoked\": null, \"x\": {"),
        ] {
            assert!(json.contains(from), "{from}");
            let t = json.replacen(from, to, 1);
            let e = SignedDirectory::load_bytes(t.as_bytes(), &vk).unwrap_err();
            if from.starts_with("\"revoked\"") {
                // An extra member is refused before any signature check.
                assert!(matches!(e, DirectoryError::Syntax(_)), "{e:?}");
            } else {
                assert!(
                    matches!(e, DirectoryError::SignatureMismatch),
                    "{from}: {e:?}"
                );
            }
        }
        // Removing the revocation (the attack that matters most).
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let mut v2 = v.clone();
        v2["directory"]["agencies"][0]["keys"][0]["revoked"] = serde_json::Value::Null;
        let e = SignedDirectory::load_bytes(v2.to_string().as_bytes(), &vk).unwrap_err();
        assert!(matches!(e, DirectoryError::SignatureMismatch), "{e:?}");
        // Layout-only changes are not content changes.
        let compact = v.to_string();
        assert!(SignedDirectory::load_bytes(compact.as_bytes(), &vk).is_ok());
    }

    #[test]
    fn signature_problems_are_distinct() {
        let root = generate();
        let vk = root.verifying_key();
        let signed = SignedDirectory::sign(&sample(), &root).unwrap();
        let v: serde_json::Value = serde_json::from_str(&signed.to_json().unwrap()).unwrap();

        let mut unsigned = v.clone();
        unsigned.as_object_mut().unwrap().remove("signature");
        let e = SignedDirectory::load_bytes(unsigned.to_string().as_bytes(), &vk).unwrap_err();
        assert!(matches!(e, DirectoryError::MissingSignature), "{e:?}");

        let mut rsa = v.clone();
        rsa["signature"]["algorithm"] = "rsa-sha1".into();
        let e = SignedDirectory::load_bytes(rsa.to_string().as_bytes(), &vk).unwrap_err();
        assert!(
            matches!(e, DirectoryError::UnsupportedAlgorithm(_)),
            "{e:?}"
        );

        let mut short = v.clone();
        short["signature"]["value"] = STANDARD.encode([0u8; 63]).into();
        let e = SignedDirectory::load_bytes(short.to_string().as_bytes(), &vk).unwrap_err();
        assert!(matches!(e, DirectoryError::MalformedSignature(_)), "{e:?}");

        let mut zero = v.clone();
        zero["signature"]["value"] = STANDARD.encode([0u8; 64]).into();
        let e = SignedDirectory::load_bytes(zero.to_string().as_bytes(), &vk).unwrap_err();
        assert!(matches!(e, DirectoryError::SignatureMismatch), "{e:?}");

        let e = SignedDirectory::load_bytes(b"{}", &vk).unwrap_err();
        assert!(matches!(e, DirectoryError::Syntax(_)), "{e:?}");
        let e = SignedDirectory::load_bytes(b"\xff\xfe", &vk).unwrap_err();
        assert!(matches!(e, DirectoryError::Syntax(_)), "{e:?}");
    }

    #[test]
    fn another_root_key_is_refused() {
        let root = generate();
        let other = generate();
        let d = sample();
        let json = SignedDirectory::sign(&d, &other)
            .unwrap()
            .to_json()
            .unwrap();
        // Signed by another key: refused by the key it names.
        let e = SignedDirectory::load_bytes(json.as_bytes(), &root.verifying_key()).unwrap_err();
        assert!(matches!(e, DirectoryError::WrongRootKey { .. }), "{e:?}");
        assert!(
            e.to_string().contains(&fingerprint(&root.verifying_key())),
            "{e}"
        );
        // …and by the signature itself when it claims the right key.
        let forged = json.replace(
            &fingerprint(&other.verifying_key()),
            &fingerprint(&root.verifying_key()),
        );
        let e = SignedDirectory::load_bytes(forged.as_bytes(), &root.verifying_key()).unwrap_err();
        assert!(matches!(e, DirectoryError::SignatureMismatch), "{e:?}");
    }

    #[test]
    fn signature_is_domain_separated() {
        // A root signature over the bare JSON (no prefix) is not accepted.
        let root = generate();
        let d = sample();
        let signed = SignedDirectory::sign(&d, &root).unwrap();
        let bare = serde_json::to_vec(&d).unwrap();
        let mut v: serde_json::Value = serde_json::from_str(&signed.to_json().unwrap()).unwrap();
        v["signature"]["value"] = STANDARD.encode(root.sign(&bare).to_bytes()).into();
        let e = SignedDirectory::load_bytes(v.to_string().as_bytes(), &root.verifying_key())
            .unwrap_err();
        assert!(matches!(e, DirectoryError::SignatureMismatch), "{e:?}");
    }

    #[test]
    fn signed_but_invalid_is_reported_as_invalid() {
        // The operator's own tooling signed a directory with a duplicate
        // agency (not possible through `Directory`, so built as JSON).
        let root = generate();
        let d = sample();
        let mut v = serde_json::to_value(&d).unwrap();
        let first = v["agencies"][0].clone();
        v["agencies"].as_array_mut().unwrap().push(first);
        let bad = serde_json::from_value::<UncheckedDirectory>(v)
            .unwrap()
            .into_unvalidated();
        let sig = SignatureBlock {
            algorithm: SIGNATURE_ALGORITHM.into(),
            key: fingerprint(&root.verifying_key()),
            value: STANDARD.encode(root.sign(&signed_bytes(&bad).unwrap()).to_bytes()),
        };
        let file = serde_json::to_string(&FileOut {
            directory: &bad,
            signature: &sig,
        })
        .unwrap();
        let e = SignedDirectory::load_bytes(file.as_bytes(), &root.verifying_key()).unwrap_err();
        assert!(
            matches!(e, DirectoryError::Invalid(RuleError::DuplicateAgency(_))),
            "{e:?}"
        );
    }

    #[test]
    fn atomic_save_and_no_clobber_create() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("directory.json");
        let root = generate();
        let mut d = sample();
        let s1 = SignedDirectory::sign(&d, &root).unwrap();
        s1.save_new(&path).unwrap();
        let e = s1.save_new(&path).unwrap_err();
        assert!(matches!(e, DirectoryError::Exists { .. }), "{e:?}");

        d.next_edition(datetime!(2026-11-23 00:00 UTC)).unwrap();
        SignedDirectory::sign(&d, &root)
            .unwrap()
            .save(&path)
            .unwrap();
        let back = SignedDirectory::load(&path, &root.verifying_key()).unwrap();
        assert_eq!(back.serial(), 2);
        // No temporary files are left behind.
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("directory.json")]);

        let e = SignedDirectory::load(&dir.path().join("missing.json"), &root.verifying_key())
            .unwrap_err();
        assert!(e.to_string().contains("missing.json"), "{e}");
    }
}
