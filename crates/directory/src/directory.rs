//! The agency directory: who is on the axis, and which keys speak for them.
//!
//! A [`Directory`] lists every agency with its `OrganId`, names, status and
//! public keys. Each key has an id (what a signature's `KeyName` carries), a
//! validity window and possibly a revocation. An agency may hold several keys
//! with overlapping windows: that is how keys are rotated without downtime —
//! register the new key, let senders switch, and let the old one expire (or
//! revoke it).
//!
//! # Invariants
//!
//! Checked when a directory is loaded and after every mutation (a mutation
//! that would break one is refused and leaves the directory unchanged):
//!
//! - agency ids are unique;
//! - key ids are unique across the whole directory, not just per agency: a
//!   signature names its key by id alone, and that id must identify exactly
//!   one key of exactly one agency;
//! - no two keys share the same public key (otherwise whoever holds one
//!   agency's private key could sign under another agency's key id);
//! - `not_after`, when present, is later than `not_before`;
//! - agency names and revocation reasons are not empty.

use std::collections::{HashMap, HashSet};
use std::fmt;

use docaxis_edxml::OrganId;
use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::keys::KeyId;

/// How far in the future a claimed signing time may lie before it is refused:
/// room for ordinary clock drift between agencies' servers, not more.
pub const FUTURE_TOLERANCE: Duration = Duration::minutes(5);

/// Whether an agency may currently send signed documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgencyStatus {
    /// On the axis.
    Active,
    /// Temporarily off the axis (e.g. its system failed a security audit):
    /// its keys stay listed but its signatures are refused.
    Suspended,
}

impl fmt::Display for AgencyStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AgencyStatus::Active => "active",
            AgencyStatus::Suspended => "suspended",
        })
    }
}

/// A key's revocation: when, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Revocation {
    /// From this instant on, signatures by the key are refused.
    #[serde(with = "rfc3339_strict")]
    pub at: OffsetDateTime,
    /// Why, for the operators and the sender (e.g. "key compromised").
    pub reason: String,
}

/// One public key of an agency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgencyKey {
    /// The id signatures name it by (`KeyInfo/KeyName`).
    pub id: KeyId,
    /// The Ed25519 public key, stored as the base64 of its raw 32 bytes:
    /// short, unambiguous, and re-encodes to exactly the same text (which the
    /// signed directory file relies on).
    #[serde(with = "raw_key_base64")]
    pub public_key: VerifyingKey,
    /// First instant a signature by this key is valid (inclusive).
    #[serde(with = "rfc3339_strict")]
    pub not_before: OffsetDateTime,
    /// Last instant a signature by this key is valid (inclusive); `None` for
    /// no end.
    #[serde(with = "rfc3339_strict::option")]
    pub not_after: Option<OffsetDateTime>,
    /// Set once the key is revoked.
    pub revoked: Option<Revocation>,
}

/// Where a key stands at a given instant (for display; verification uses
/// [`Directory::resolve_key`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    /// Usable.
    Active,
    /// Its window has not started.
    NotYetValid,
    /// Its window has ended.
    Expired,
    /// Revoked.
    Revoked,
}

impl fmt::Display for KeyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyState::Active => "active",
            KeyState::NotYetValid => "not yet valid",
            KeyState::Expired => "expired",
            KeyState::Revoked => "revoked",
        })
    }
}

impl AgencyKey {
    /// A key valid from `not_before`, with an optional end, not revoked.
    pub fn new(
        id: KeyId,
        public_key: VerifyingKey,
        not_before: OffsetDateTime,
        not_after: Option<OffsetDateTime>,
    ) -> Self {
        AgencyKey {
            id,
            public_key,
            not_before,
            not_after,
            revoked: None,
        }
    }

    /// The key's state at `now`.
    pub fn state_at(&self, now: OffsetDateTime) -> KeyState {
        if self.revoked.as_ref().is_some_and(|r| r.at <= now) {
            KeyState::Revoked
        } else if now < self.not_before {
            KeyState::NotYetValid
        } else if self.not_after.is_some_and(|end| now > end) {
            KeyState::Expired
        } else {
            KeyState::Active
        }
    }

    /// The key's fingerprint (see [`crate::fingerprint`]).
    pub fn fingerprint(&self) -> String {
        crate::keys::fingerprint(&self.public_key)
    }
}

/// An agency on the axis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Agency {
    /// Its identifier.
    pub id: OrganId,
    /// Its official Vietnamese name, e.g. "Văn phòng Chính phủ".
    pub name: String,
    /// Its English name, if it has an official one.
    pub name_en: Option<String>,
    /// Whether it may send signed documents.
    pub status: AgencyStatus,
    /// Its keys, current and past.
    pub keys: Vec<AgencyKey>,
}

impl Agency {
    /// An active agency without keys.
    pub fn new(id: OrganId, name: impl Into<String>, name_en: Option<String>) -> Self {
        Agency {
            id,
            name: name.into(),
            name_en,
            status: AgencyStatus::Active,
            keys: Vec::new(),
        }
    }
}

/// The agency directory. See the [module documentation](self) for its
/// invariants; every way of building or changing one checks them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "UncheckedDirectory")]
pub struct Directory {
    // Field order is the serialized order, which the directory signature
    // covers: do not reorder (see `crate::signed`).
    serial: u64,
    #[serde(with = "rfc3339_strict")]
    issued_at: OffsetDateTime,
    agencies: Vec<Agency>,
}

/// The directory as read, before its invariants are checked. Same fields as
/// [`Directory`]; unknown fields are refused so that nothing in a file can
/// escape the signature (see `crate::signed`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UncheckedDirectory {
    serial: u64,
    #[serde(with = "rfc3339_strict")]
    issued_at: OffsetDateTime,
    agencies: Vec<Agency>,
}

impl UncheckedDirectory {
    /// The directory without its invariants checked: only for re-encoding it
    /// to check a signature before judging its content.
    pub(crate) fn into_unvalidated(self) -> Directory {
        Directory {
            serial: self.serial,
            issued_at: self.issued_at,
            agencies: self.agencies,
        }
    }
}

impl TryFrom<UncheckedDirectory> for Directory {
    type Error = RuleError;
    fn try_from(u: UncheckedDirectory) -> Result<Self, RuleError> {
        let d = u.into_unvalidated();
        d.validate()?;
        Ok(d)
    }
}

/// A directory rule a change or a loaded file would break.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// The agency is already listed.
    #[error("agency {0} is already in the directory; each agency is listed once (add keys to the existing entry instead)")]
    DuplicateAgency(OrganId),
    /// A key id is used twice.
    #[error("key id {key_id} of agency {agency} is already used by agency {existing_agency}; key ids must be unique across the whole directory because a signature names its key by id alone — choose another id")]
    DuplicateKeyId {
        /// The id.
        key_id: KeyId,
        /// The agency the duplicate was added to.
        agency: OrganId,
        /// The agency already using it.
        existing_agency: OrganId,
    },
    /// The same public key is listed twice.
    #[error("key {key_id} of agency {agency} is the same public key as key {existing_key_id} of agency {existing_agency}; every entry must be its own key pair — generate a new one (docaxis keygen)")]
    DuplicatePublicKey {
        /// The new entry.
        key_id: KeyId,
        /// Its agency.
        agency: OrganId,
        /// The entry already holding this public key.
        existing_key_id: KeyId,
        /// Its agency.
        existing_agency: OrganId,
    },
    /// A validity window that ends before it starts.
    #[error("key {key_id}: its end of validity ({}) must be later than its start ({})", rfc3339(.not_after), rfc3339(.not_before))]
    BadWindow {
        /// The key.
        key_id: KeyId,
        /// Start.
        not_before: OffsetDateTime,
        /// End.
        not_after: OffsetDateTime,
    },
    /// An agency without a name.
    #[error("agency {0} has an empty name; its official Vietnamese name is required")]
    EmptyName(OrganId),
    /// A revocation without a reason.
    #[error("the revocation of key {0} has no reason; say why (e.g. \"key compromised\", \"replaced\") so the sender and other operators understand")]
    EmptyReason(KeyId),
    /// The agency is not listed.
    #[error("agency {0} is not in the directory; add the agency first")]
    UnknownAgency(OrganId),
    /// The key is not listed.
    #[error("key {0} is not in the directory")]
    UnknownKey(KeyId),
    /// The key is already revoked.
    #[error("key {key_id} was already revoked at {} ({reason}); a revocation is not changed once made", rfc3339(.at))]
    AlreadyRevoked {
        /// The key.
        key_id: KeyId,
        /// When it was revoked.
        at: OffsetDateTime,
        /// Why.
        reason: String,
    },
    /// The serial number cannot grow any more.
    #[error("the directory serial number is at its maximum and cannot be increased")]
    SerialOverflow,
}

/// Why a signature's key may not be trusted for a signature. See
/// [`Directory::resolve_key`] for the rules. Each message names the key, the
/// agency and the dates involved, and says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// No key with this id.
    #[error("the signature names key {key_id:?}, which is not in the agency directory; check the KeyName in the signature, or have the axis operator register the key if it is new")]
    UnknownKey {
        /// The id as given (untrusted; truncated to 64 characters).
        key_id: String,
    },
    /// The key is revoked.
    #[error("key {key_id} of agency {agency} was revoked at {} (reason: {reason}); anything signed with it is refused whatever signing time it claims, since a stolen key can claim any time — the sender must re-sign with a current key", rfc3339(.at))]
    Revoked {
        /// The key.
        key_id: KeyId,
        /// Its agency.
        agency: OrganId,
        /// When it was revoked.
        at: OffsetDateTime,
        /// Why.
        reason: String,
    },
    /// The agency is suspended.
    #[error("agency {agency} is suspended in the agency directory, so its signatures (here by key {key_id}) are refused; the axis operator must reinstate the agency before its documents are accepted")]
    AgencySuspended {
        /// The key.
        key_id: KeyId,
        /// Its agency.
        agency: OrganId,
    },
    /// The claimed signing time is too far in the future.
    #[error("the signature by key {key_id} of agency {agency} claims it was made at {}, more than {} minutes after now ({}); the sender's clock is probably wrong — they must correct it and re-sign", rfc3339(.signed_at), FUTURE_TOLERANCE.whole_minutes(), rfc3339(.now))]
    SignedInFuture {
        /// The key.
        key_id: KeyId,
        /// Its agency.
        agency: OrganId,
        /// The claimed signing time.
        signed_at: OffsetDateTime,
        /// The verifier's time.
        now: OffsetDateTime,
    },
    /// Signed before the key's window starts.
    #[error("key {key_id} of agency {agency} is valid only from {}, but the document claims it was signed at {}; the sender switched to the new key too early or has a wrong clock — re-sign with the key valid at signing time", rfc3339(.not_before), rfc3339(.signed_at))]
    NotYetValid {
        /// The key.
        key_id: KeyId,
        /// Its agency.
        agency: OrganId,
        /// The claimed signing time.
        signed_at: OffsetDateTime,
        /// Start of the key's window.
        not_before: OffsetDateTime,
    },
    /// Signed after the key's window ended.
    #[error("key {key_id} of agency {agency} expired at {}, but the document claims it was signed at {}; the sender must re-sign with its current key (or the axis operator must register a new key for it)", rfc3339(.not_after), rfc3339(.signed_at))]
    Expired {
        /// The key.
        key_id: KeyId,
        /// Its agency.
        agency: OrganId,
        /// The claimed signing time.
        signed_at: OffsetDateTime,
        /// End of the key's window.
        not_after: OffsetDateTime,
    },
}

/// A key the directory vouches for, for one signature.
#[derive(Debug, Clone, Copy)]
pub struct ResolvedKey<'a> {
    /// The agency that owns the key.
    pub agency: &'a Agency,
    /// The directory entry of the key.
    pub key: &'a AgencyKey,
    /// The public key to verify the signature with.
    pub verifying_key: VerifyingKey,
}

impl ResolvedKey<'_> {
    /// The owning agency's id (to compare with the document's `From`).
    pub fn organ_id(&self) -> &OrganId {
        &self.agency.id
    }
}

impl Directory {
    /// An empty directory, serial 1.
    pub fn new(issued_at: OffsetDateTime) -> Self {
        Directory {
            serial: 1,
            issued_at,
            agencies: Vec::new(),
        }
    }

    /// Builds a directory from its parts, checking every invariant.
    pub fn from_parts(
        serial: u64,
        issued_at: OffsetDateTime,
        agencies: Vec<Agency>,
    ) -> Result<Self, RuleError> {
        let d = Directory {
            serial,
            issued_at,
            agencies,
        };
        d.validate()?;
        Ok(d)
    }

    /// The edition number; every published change increases it, so a
    /// consumer can refuse to go back to an older directory.
    pub fn serial(&self) -> u64 {
        self.serial
    }

    /// When this edition was issued.
    pub fn issued_at(&self) -> OffsetDateTime {
        self.issued_at
    }

    /// All agencies, in the order they were added.
    pub fn agencies(&self) -> &[Agency] {
        &self.agencies
    }

    /// The agency with this id.
    pub fn agency(&self, id: &OrganId) -> Option<&Agency> {
        self.agencies.iter().find(|a| &a.id == id)
    }

    /// Whether the agency is listed (whatever its status).
    pub fn contains(&self, id: &OrganId) -> bool {
        self.agency(id).is_some()
    }

    /// Whether an id, as written in a document, is a listed agency. This is
    /// how free-form (non-national) ids are accepted: only if listed.
    pub fn is_listed(&self, id: &str) -> bool {
        self.agencies.iter().any(|a| a.id.as_str() == id)
    }

    /// The key with this id and its agency, whatever its state.
    pub fn key(&self, key_id: &str) -> Option<(&Agency, &AgencyKey)> {
        self.agencies.iter().find_map(|a| {
            a.keys
                .iter()
                .find(|k| k.id.as_str() == key_id)
                .map(|k| (a, k))
        })
    }

    /// Starts a new edition: increases the serial and sets the issue time.
    /// Call once before signing a changed directory.
    pub fn next_edition(&mut self, issued_at: OffsetDateTime) -> Result<u64, RuleError> {
        self.serial = self
            .serial
            .checked_add(1)
            .ok_or(RuleError::SerialOverflow)?;
        self.issued_at = issued_at;
        Ok(self.serial)
    }

    /// Adds an agency (with any keys it already has).
    pub fn add_agency(&mut self, agency: Agency) -> Result<(), RuleError> {
        self.mutate(|d| {
            d.agencies.push(agency);
            Ok(())
        })
    }

    /// Adds a key to an agency. Existing keys are kept: an agency may have
    /// several keys with overlapping windows, which is how keys are rotated.
    pub fn add_key(&mut self, agency: &OrganId, key: AgencyKey) -> Result<(), RuleError> {
        self.mutate(|d| {
            d.agency_mut(agency)?.keys.push(key);
            Ok(())
        })
    }

    /// Revokes a key from `at` on. A revocation is final: revoking an already
    /// revoked key is refused rather than silently changing the record.
    pub fn revoke_key(
        &mut self,
        key_id: &KeyId,
        at: OffsetDateTime,
        reason: &str,
    ) -> Result<(), RuleError> {
        self.mutate(|d| {
            let key = d
                .agencies
                .iter_mut()
                .flat_map(|a| a.keys.iter_mut())
                .find(|k| &k.id == key_id)
                .ok_or_else(|| RuleError::UnknownKey(key_id.clone()))?;
            if let Some(r) = &key.revoked {
                return Err(RuleError::AlreadyRevoked {
                    key_id: key_id.clone(),
                    at: r.at,
                    reason: r.reason.clone(),
                });
            }
            key.revoked = Some(Revocation {
                at,
                reason: reason.trim().to_owned(),
            });
            Ok(())
        })
    }

    /// Sets an agency's status.
    pub fn set_status(&mut self, agency: &OrganId, status: AgencyStatus) -> Result<(), RuleError> {
        self.mutate(|d| {
            d.agency_mut(agency)?.status = status;
            Ok(())
        })
    }

    /// Finds the key a signature names and decides whether it may be trusted
    /// for a signature made (as the signer claims) at `signed_at`, judged at
    /// `now`.
    ///
    /// The rules, checked in this order (the first that applies is reported):
    ///
    /// 1. The key id must be listed, else [`KeyError::UnknownKey`].
    /// 2. The key must not be revoked: if its revocation time is at or before
    ///    `now` — or at or before `signed_at` — it is [`KeyError::Revoked`].
    ///    A revoked key is refused whatever signing time the document claims,
    ///    because that time is only the sender's claim and whoever stole a
    ///    key can backdate.
    /// 3. The owning agency must be active, else [`KeyError::AgencySuspended`].
    /// 4. `signed_at` must be at most [`FUTURE_TOLERANCE`] (5 minutes) after
    ///    `now`, else [`KeyError::SignedInFuture`]. This comes before the
    ///    window checks so that a wrong clock is reported as such, not as an
    ///    expired key.
    /// 5. `signed_at` must not be before the key's `not_before`, else
    ///    [`KeyError::NotYetValid`].
    /// 6. `signed_at` must not be after the key's `not_after`, else
    ///    [`KeyError::Expired`]. Both window ends are inclusive.
    ///
    /// Expiry is judged at the signing time, not at `now`: a document signed
    /// while its key was valid stays verifiable after the key expires (which
    /// revocation, rule 2, does not allow).
    pub fn resolve_key(
        &self,
        key_id: &str,
        signed_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<ResolvedKey<'_>, KeyError> {
        let (agency, key) = self.key(key_id).ok_or_else(|| KeyError::UnknownKey {
            key_id: key_id.chars().take(64).collect(),
        })?;
        let ids = || (key.id.clone(), agency.id.clone());

        if let Some(r) = &key.revoked {
            if r.at <= now || r.at <= signed_at {
                let (key_id, agency) = ids();
                return Err(KeyError::Revoked {
                    key_id,
                    agency,
                    at: r.at,
                    reason: r.reason.clone(),
                });
            }
        }
        if agency.status == AgencyStatus::Suspended {
            let (key_id, agency) = ids();
            return Err(KeyError::AgencySuspended { key_id, agency });
        }
        if signed_at > now + FUTURE_TOLERANCE {
            let (key_id, agency) = ids();
            return Err(KeyError::SignedInFuture {
                key_id,
                agency,
                signed_at,
                now,
            });
        }
        if signed_at < key.not_before {
            let (key_id, agency) = ids();
            return Err(KeyError::NotYetValid {
                key_id,
                agency,
                signed_at,
                not_before: key.not_before,
            });
        }
        if let Some(not_after) = key.not_after {
            if signed_at > not_after {
                let (key_id, agency) = ids();
                return Err(KeyError::Expired {
                    key_id,
                    agency,
                    signed_at,
                    not_after,
                });
            }
        }
        Ok(ResolvedKey {
            agency,
            key,
            verifying_key: key.public_key,
        })
    }

    /// Checks every invariant (see the module documentation).
    pub fn validate(&self) -> Result<(), RuleError> {
        let mut agencies = HashSet::new();
        let mut key_ids: HashMap<&KeyId, &OrganId> = HashMap::new();
        let mut public_keys: HashMap<[u8; 32], (&KeyId, &OrganId)> = HashMap::new();
        for agency in &self.agencies {
            if !agencies.insert(&agency.id) {
                return Err(RuleError::DuplicateAgency(agency.id.clone()));
            }
            if agency.name.trim().is_empty() {
                return Err(RuleError::EmptyName(agency.id.clone()));
            }
            for key in &agency.keys {
                if let Some(existing) = key_ids.insert(&key.id, &agency.id) {
                    return Err(RuleError::DuplicateKeyId {
                        key_id: key.id.clone(),
                        agency: agency.id.clone(),
                        existing_agency: existing.clone(),
                    });
                }
                if let Some((existing_key, existing_agency)) =
                    public_keys.insert(key.public_key.to_bytes(), (&key.id, &agency.id))
                {
                    return Err(RuleError::DuplicatePublicKey {
                        key_id: key.id.clone(),
                        agency: agency.id.clone(),
                        existing_key_id: existing_key.clone(),
                        existing_agency: existing_agency.clone(),
                    });
                }
                if let Some(not_after) = key.not_after {
                    if not_after <= key.not_before {
                        return Err(RuleError::BadWindow {
                            key_id: key.id.clone(),
                            not_before: key.not_before,
                            not_after,
                        });
                    }
                }
                if let Some(r) = &key.revoked {
                    if r.reason.trim().is_empty() {
                        return Err(RuleError::EmptyReason(key.id.clone()));
                    }
                }
            }
        }
        Ok(())
    }

    /// Applies a change to a copy, checks every invariant on the result, and
    /// only then commits it: a refused change leaves `self` untouched, and
    /// the rules checked are exactly those checked on load. (A directory
    /// holds hundreds of agencies, so the copy costs nothing that matters.)
    fn mutate(
        &mut self,
        change: impl FnOnce(&mut Directory) -> Result<(), RuleError>,
    ) -> Result<(), RuleError> {
        let mut next = self.clone();
        change(&mut next)?;
        next.validate()?;
        *self = next;
        Ok(())
    }

    fn agency_mut(&mut self, id: &OrganId) -> Result<&mut Agency, RuleError> {
        self.agencies
            .iter_mut()
            .find(|a| &a.id == id)
            .ok_or_else(|| RuleError::UnknownAgency(id.clone()))
    }
}

/// RFC 3339 text for messages (falls back to `time`'s own format for the
/// rare instants RFC 3339 cannot express, such as years beyond 9999).
pub(crate) fn rfc3339(t: &OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

/// Serde for instants as RFC 3339 text, accepting only the exact text this
/// module writes for the instant (`T` as separator, `Z` for UTC, no trailing
/// zeros in fractions). `time`'s parser is lenient — it takes any character
/// between date and time, for one — and accepting only the canonical
/// spelling keeps one instant to one spelling in the signed file.
pub(crate) mod rfc3339_strict {
    use serde::{de, ser, Deserialize, Deserializer, Serializer};
    use std::borrow::Cow;
    use time::format_description::well_known::Rfc3339;
    use time::OffsetDateTime;

    pub fn serialize<S: Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
        let text = t.format(&Rfc3339).map_err(ser::Error::custom)?;
        s.serialize_str(&text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
        let text = <Cow<'de, str>>::deserialize(d)?;
        parse(&text).map_err(de::Error::custom)
    }

    fn parse(text: &str) -> Result<OffsetDateTime, String> {
        let shown: String = text.chars().take(64).collect();
        let t = OffsetDateTime::parse(text, &Rfc3339)
            .map_err(|e| format!("{shown:?} is not an RFC 3339 time: {e}"))?;
        match t.format(&Rfc3339) {
            Ok(canonical) if canonical == text => Ok(t),
            Ok(canonical) => Err(format!(
                "{shown:?} is not in canonical RFC 3339 form; it is written {canonical:?}"
            )),
            Err(e) => Err(format!("{shown:?} cannot be represented: {e}")),
        }
    }

    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer>(
            t: &Option<OffsetDateTime>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => super::serialize(t, s),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<OffsetDateTime>, D::Error> {
            match <Option<Cow<'de, str>>>::deserialize(d)? {
                Some(text) => parse(&text).map(Some).map_err(de::Error::custom),
                None => Ok(None),
            }
        }
    }
}

/// Serde for a public key as the standard base64 of its 32 raw bytes.
mod raw_key_base64 {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    use ed25519_dalek::VerifyingKey;
    use serde::{de, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(key: &VerifyingKey, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(key.as_bytes()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<VerifyingKey, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        // The standard engine refuses non-canonical padding and trailing
        // bits, so one key has exactly one accepted spelling.
        let bytes = STANDARD
            .decode(text.as_bytes())
            .map_err(|e| de::Error::custom(format!("public_key is not base64: {e}")))?;
        let raw: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
            de::Error::custom(format!(
                "public_key is {} bytes long; an Ed25519 public key is 32",
                bytes.len()
            ))
        })?;
        crate::keys::verifying_key_from_bytes(&raw)
            .map_err(|e| de::Error::custom(format!("public_key {e}")))
    }
}

/// Document validation asks the directory whether a free-form agency id
/// (a staging system's, say) is known.
impl docaxis_edxml::KnownAgencies for Directory {
    fn is_listed(&self, id: &OrganId) -> bool {
        self.contains(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::generate;
    use time::macros::datetime;

    pub(crate) fn organ(s: &str) -> OrganId {
        OrganId::parse(s).unwrap()
    }

    pub(crate) fn kid(s: &str) -> KeyId {
        KeyId::parse(s).unwrap()
    }

    fn new_key(id: &str, from: OffsetDateTime, to: Option<OffsetDateTime>) -> AgencyKey {
        AgencyKey::new(kid(id), generate().verifying_key(), from, to)
    }

    const VPCP: &str = "000.00.00.G22";
    const BTC: &str = "000.00.00.G12";

    /// VPCP with an old key (2025) and a new one (from 2025-12-01 on),
    /// overlapping during December 2025; BTC with one open-ended key.
    fn sample() -> Directory {
        let mut d = Directory::new(datetime!(2026-01-01 00:00 UTC));
        d.add_agency(Agency::new(
            organ(VPCP),
            "Văn phòng Chính phủ",
            Some("Office of the Government".into()),
        ))
        .unwrap();
        d.add_agency(Agency::new(organ(BTC), "Bộ Tài chính", None))
            .unwrap();
        d.add_key(
            &organ(VPCP),
            new_key(
                "vpcp-2025",
                datetime!(2025-01-01 00:00 UTC),
                Some(datetime!(2025-12-31 23:59:59 UTC)),
            ),
        )
        .unwrap();
        d.add_key(
            &organ(VPCP),
            new_key("vpcp-2026", datetime!(2025-12-01 00:00 UTC), None),
        )
        .unwrap();
        d.add_key(
            &organ(BTC),
            new_key("btc-1", datetime!(2025-01-01 00:00 UTC), None),
        )
        .unwrap();
        d
    }

    const NOW: OffsetDateTime = datetime!(2026-06-01 12:00 UTC);

    #[test]
    fn rotation_with_overlapping_windows() {
        let d = sample();
        let overlap = datetime!(2025-12-15 09:00 +07:00);
        let old = d.resolve_key("vpcp-2025", overlap, NOW).unwrap();
        let new = d.resolve_key("vpcp-2026", overlap, NOW).unwrap();
        assert_eq!(old.organ_id(), &organ(VPCP));
        assert_eq!(new.organ_id(), &organ(VPCP));
        assert_ne!(old.verifying_key, new.verifying_key);
        // A document signed with the old key while it was valid still
        // verifies after the key expired.
        assert!(d
            .resolve_key("vpcp-2025", datetime!(2025-06-01 00:00 UTC), NOW)
            .is_ok());
        // Window ends are inclusive.
        assert!(d
            .resolve_key("vpcp-2025", datetime!(2025-12-31 23:59:59 UTC), NOW)
            .is_ok());
        assert!(d
            .resolve_key("vpcp-2026", datetime!(2025-12-01 00:00 UTC), NOW)
            .is_ok());
        assert_eq!(
            d.key("vpcp-2026").unwrap().1.state_at(NOW),
            KeyState::Active
        );
        assert_eq!(
            d.key("vpcp-2025").unwrap().1.state_at(NOW),
            KeyState::Expired
        );
    }

    #[test]
    fn unknown_key() {
        let d = sample();
        let e = d.resolve_key("nope", NOW, NOW).unwrap_err();
        assert_eq!(
            e,
            KeyError::UnknownKey {
                key_id: "nope".into()
            }
        );
        assert!(e.to_string().contains("\"nope\""), "{e}");
        // Untrusted ids are truncated and escaped in the message.
        let hostile = format!("x\n{}", "y".repeat(500));
        let e = d.resolve_key(&hostile, NOW, NOW).unwrap_err();
        let KeyError::UnknownKey { key_id } = &e else {
            panic!("{e:?}")
        };
        assert_eq!(key_id.chars().count(), 64);
        assert!(!e.to_string().contains('\n'));
    }

    #[test]
    fn expired_and_not_yet_valid() {
        let d = sample();
        let e = d
            .resolve_key("vpcp-2025", datetime!(2026-01-01 00:00 UTC), NOW)
            .unwrap_err();
        assert!(matches!(e, KeyError::Expired { .. }), "{e:?}");
        let msg = e.to_string();
        assert!(msg.contains("vpcp-2025") && msg.contains(VPCP), "{msg}");
        assert!(
            msg.contains("2025-12-31T23:59:59Z") && msg.contains("2026-01-01T00:00:00Z"),
            "{msg}"
        );

        let e = d
            .resolve_key("vpcp-2026", datetime!(2025-11-30 23:59:59 UTC), NOW)
            .unwrap_err();
        assert!(matches!(e, KeyError::NotYetValid { .. }), "{e:?}");
        assert!(e.to_string().contains("2025-12-01T00:00:00Z"), "{e}");
    }

    #[test]
    fn revoked_key_is_refused_whatever_the_claimed_time() {
        let mut d = sample();
        let at = datetime!(2026-03-01 00:00 UTC);
        d.revoke_key(&kid("btc-1"), at, "key compromised").unwrap();
        // Backdated signatures are refused too.
        for signed_at in [
            datetime!(2025-02-01 00:00 UTC),
            datetime!(2026-05-01 00:00 UTC),
        ] {
            let e = d.resolve_key("btc-1", signed_at, NOW).unwrap_err();
            assert!(matches!(e, KeyError::Revoked { .. }), "{e:?}");
            let msg = e.to_string();
            assert!(
                msg.contains("btc-1") && msg.contains(BTC) && msg.contains("key compromised"),
                "{msg}"
            );
        }
        // Revoked at exactly `now` counts as revoked.
        assert!(matches!(
            d.resolve_key("btc-1", NOW, at),
            Err(KeyError::Revoked { .. })
        ));
        // Before the revocation time the key still works (a scheduled revocation).
        let before = datetime!(2026-02-01 00:00 UTC);
        assert!(d.resolve_key("btc-1", before, before).is_ok());
        assert_eq!(d.key("btc-1").unwrap().1.state_at(NOW), KeyState::Revoked);
        // A revocation is final.
        let e = d.revoke_key(&kid("btc-1"), NOW, "again").unwrap_err();
        assert!(matches!(e, RuleError::AlreadyRevoked { .. }), "{e:?}");
        assert!(matches!(
            d.revoke_key(&kid("nope"), NOW, "x"),
            Err(RuleError::UnknownKey(_))
        ));
        assert!(matches!(
            d.revoke_key(&kid("vpcp-2026"), NOW, "  "),
            Err(RuleError::EmptyReason(_))
        ));
    }

    #[test]
    fn suspended_agency_is_refused() {
        let mut d = sample();
        d.set_status(&organ(VPCP), AgencyStatus::Suspended).unwrap();
        let e = d.resolve_key("vpcp-2026", NOW, NOW).unwrap_err();
        assert!(matches!(e, KeyError::AgencySuspended { .. }), "{e:?}");
        assert!(e.to_string().contains(VPCP), "{e}");
        // Other agencies are unaffected, and reinstating restores the key.
        assert!(d.resolve_key("btc-1", NOW, NOW).is_ok());
        d.set_status(&organ(VPCP), AgencyStatus::Active).unwrap();
        assert!(d.resolve_key("vpcp-2026", NOW, NOW).is_ok());
        assert!(matches!(
            d.set_status(&organ("000.00.00.G09"), AgencyStatus::Active),
            Err(RuleError::UnknownAgency(_))
        ));
    }

    #[test]
    fn signature_from_the_future() {
        let d = sample();
        assert!(d
            .resolve_key("btc-1", NOW + Duration::minutes(5), NOW)
            .is_ok());
        let e = d
            .resolve_key(
                "btc-1",
                NOW + Duration::minutes(5) + Duration::seconds(1),
                NOW,
            )
            .unwrap_err();
        assert!(matches!(e, KeyError::SignedInFuture { .. }), "{e:?}");
        // Reported as a clock problem even when the time is past the key's end.
        let e = d
            .resolve_key("vpcp-2025", datetime!(2030-01-01 00:00 UTC), NOW)
            .unwrap_err();
        assert!(matches!(e, KeyError::SignedInFuture { .. }), "{e:?}");
    }

    #[test]
    fn duplicate_ids_are_refused_and_leave_the_directory_unchanged() {
        let mut d = sample();
        let before = d.clone();
        let e = d
            .add_agency(Agency::new(organ(VPCP), "Trùng", None))
            .unwrap_err();
        assert_eq!(e, RuleError::DuplicateAgency(organ(VPCP)));
        // Key ids are unique across agencies, not only within one.
        let e = d
            .add_key(&organ(BTC), new_key("vpcp-2026", NOW, None))
            .unwrap_err();
        assert!(matches!(e, RuleError::DuplicateKeyId { .. }), "{e:?}");
        assert!(e.to_string().contains(VPCP), "{e}");
        // The same public key under another id.
        let pk = d.key("btc-1").unwrap().1.public_key;
        let e = d
            .add_key(&organ(VPCP), AgencyKey::new(kid("copy"), pk, NOW, None))
            .unwrap_err();
        assert!(matches!(e, RuleError::DuplicatePublicKey { .. }), "{e:?}");
        // An agency added with keys clashing with existing ones.
        let mut a = Agency::new(organ("000.00.00.G09"), "Bộ Nội vụ", None);
        a.keys.push(new_key("btc-1", NOW, None));
        assert!(matches!(
            d.add_agency(a),
            Err(RuleError::DuplicateKeyId { .. })
        ));
        assert_eq!(d, before);
    }

    #[test]
    fn bad_windows_and_names_are_refused() {
        let mut d = sample();
        let e = d
            .add_key(&organ(BTC), new_key("btc-2", NOW, Some(NOW)))
            .unwrap_err();
        assert!(matches!(e, RuleError::BadWindow { .. }), "{e:?}");
        assert!(d
            .add_key(
                &organ(BTC),
                new_key("btc-2", NOW, Some(NOW - Duration::days(1)))
            )
            .is_err());
        assert!(matches!(
            d.add_key(&organ("000.00.00.G09"), new_key("x", NOW, None)),
            Err(RuleError::UnknownAgency(_))
        ));
        assert!(matches!(
            d.add_agency(Agency::new(organ("000.00.00.G09"), " ", None)),
            Err(RuleError::EmptyName(_))
        ));
    }

    #[test]
    fn loading_checks_invariants() {
        let d = sample();
        let json = serde_json::to_string(&d).unwrap();
        let back: Directory = serde_json::from_str(&json).unwrap();
        assert_eq!(back, d);
        assert_eq!(serde_json::to_string(&back).unwrap(), json);

        // Duplicate key id smuggled into the JSON.
        let dup = json.replacen("\"btc-1\"", "\"vpcp-2026\"", 1);
        let e = serde_json::from_str::<Directory>(&dup).unwrap_err();
        assert!(e.to_string().contains("already used"), "{e}");
        // Unknown fields are refused at every level.
        let extra = json.replacen("\"serial\":", "\"x\":1,\"serial\":", 1);
        assert!(serde_json::from_str::<Directory>(&extra).is_err());
        let extra = json.replacen("\"not_before\":", "\"x\":1,\"not_before\":", 1);
        assert!(serde_json::from_str::<Directory>(&extra).is_err());
    }

    #[test]
    fn queries() {
        let mut d = sample();
        assert!(d.contains(&organ(VPCP)));
        assert!(!d.contains(&organ("000.00.00.H41")));
        assert!(d.is_listed(BTC));
        assert!(!d.is_listed("vxp.saas.03"));
        d.add_agency(Agency::new(
            organ("vxp.saas.03"),
            "Hệ thống thử nghiệm",
            None,
        ))
        .unwrap();
        assert!(d.is_listed("vxp.saas.03"));
        assert_eq!(d.agency(&organ(VPCP)).unwrap().name, "Văn phòng Chính phủ");
        assert_eq!(d.serial(), 1);
        assert_eq!(d.next_edition(NOW).unwrap(), 2);
        assert_eq!(d.issued_at(), NOW);
    }
}
