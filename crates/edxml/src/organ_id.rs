//! Agency identifiers (`OrganId`).
//!
//! The national form is `NNN.NN.NN.Xnn`: four dot-separated levels, the
//! rightmost being the level-1 unit (a letter and two digits, `G` for
//! ministries and government bodies, `H` for provinces), lower levels
//! zero-filled. Test and staging systems also use free-form ids such as
//! `vxp.saas.03`; those are accepted only where the agency directory lists
//! them, so an [`OrganId`] remembers which form it has and validation asks the
//! directory about the local ones.

use std::fmt;
use std::str::FromStr;

/// Longest id accepted. Ids become AMQP routing keys and file names, so they
/// are kept short and to a safe alphabet.
pub const MAX_ORGAN_ID_LEN: usize = 64;

/// A syntactically valid agency identifier.
///
/// Construction goes through [`OrganId::parse`], so a value of this type is
/// always safe to use as a routing key or a file-name component: ASCII letters,
/// digits, `.`, `-` and `_`, starting with a letter or digit, at most
/// [`MAX_ORGAN_ID_LEN`] bytes.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrganId {
    id: Box<str>,
    national: bool,
}

/// Why a string is not an agency identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrganIdError {
    /// The string is empty.
    #[error("an agency id (OrganId) is empty; expected the national form NNN.NN.NN.Xnn, e.g. 000.00.00.G22")]
    Empty,
    /// The string is longer than [`MAX_ORGAN_ID_LEN`].
    #[error("agency id is {0} characters long; at most {MAX_ORGAN_ID_LEN} are allowed")]
    TooLong(usize),
    /// The string holds a character outside the safe alphabet.
    #[error("agency id {id:?} contains {ch:?}; only ASCII letters, digits, '.', '-' and '_' are allowed")]
    BadCharacter {
        /// The offending id (truncated to the allowed length).
        id: String,
        /// The first offending character.
        ch: char,
    },
    /// The string does not start with a letter or digit.
    #[error("agency id {0:?} must start with a letter or a digit")]
    BadStart(String),
}

impl OrganId {
    /// Parses an agency id, national or free-form.
    ///
    /// A free-form id parses, but [`OrganId::is_national`] is then false and
    /// document validation accepts it only if the directory lists it.
    pub fn parse(s: &str) -> Result<Self, OrganIdError> {
        if s.is_empty() {
            return Err(OrganIdError::Empty);
        }
        if s.len() > MAX_ORGAN_ID_LEN {
            return Err(OrganIdError::TooLong(s.chars().count()));
        }
        if let Some(ch) = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
        {
            return Err(OrganIdError::BadCharacter {
                id: s.to_owned(),
                ch,
            });
        }
        if !s.as_bytes()[0].is_ascii_alphanumeric() {
            return Err(OrganIdError::BadStart(s.to_owned()));
        }
        Ok(OrganId {
            id: s.into(),
            national: is_national_form(s),
        })
    }

    /// The id as written.
    pub fn as_str(&self) -> &str {
        &self.id
    }

    /// True for the national `NNN.NN.NN.Xnn` form.
    pub fn is_national(&self) -> bool {
        self.national
    }

    /// The level-1 unit of a national id (`G22` in `000.00.00.G22`).
    pub fn level1(&self) -> Option<&str> {
        self.national.then(|| &self.id[10..])
    }
}

/// `NNN.NN.NN.Xnn`: digits in the three lower levels, an ASCII uppercase
/// letter and two digits in the level-1 unit.
fn is_national_form(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 13 {
        return false;
    }
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    digits(0..3)
        && b[3] == b'.'
        && digits(4..6)
        && b[6] == b'.'
        && digits(7..9)
        && b[9] == b'.'
        && b[10].is_ascii_uppercase()
        && digits(11..13)
}

impl fmt::Display for OrganId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id)
    }
}

impl fmt::Debug for OrganId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OrganId({})", self.id)
    }
}

impl FromStr for OrganId {
    type Err = OrganIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OrganId::parse(s)
    }
}

impl AsRef<str> for OrganId {
    fn as_ref(&self) -> &str {
        &self.id
    }
}

impl serde::Serialize for OrganId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.id)
    }
}

impl<'de> serde::Deserialize<'de> for OrganId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        OrganId::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn national_ids() {
        for s in [
            "000.00.00.G22",
            "000.00.18.G12",
            "002.00.20.H13",
            "000.00.00.H41",
        ] {
            let id = OrganId::parse(s).unwrap();
            assert!(id.is_national(), "{s}");
            assert_eq!(id.as_str(), s);
        }
        assert_eq!(
            OrganId::parse("000.00.00.G22").unwrap().level1(),
            Some("G22")
        );
    }

    #[test]
    fn free_form_ids_parse_but_are_not_national() {
        for s in [
            "vxp.saas.03",
            "000.00.00.g22",
            "00.00.00.G22",
            "000.00.00.G2",
            "000-00-00-G22",
        ] {
            let id = OrganId::parse(s).unwrap();
            assert!(!id.is_national(), "{s}");
            assert_eq!(id.level1(), None);
        }
    }

    #[test]
    fn unsafe_ids_are_refused() {
        assert_eq!(OrganId::parse(""), Err(OrganIdError::Empty));
        assert!(matches!(
            OrganId::parse("a b"),
            Err(OrganIdError::BadCharacter { ch: ' ', .. })
        ));
        assert!(matches!(
            OrganId::parse(".hidden"),
            Err(OrganIdError::BadStart(_))
        ));
        assert!(matches!(
            OrganId::parse("a/b"),
            Err(OrganIdError::BadCharacter { ch: '/', .. })
        ));
        assert!(matches!(
            OrganId::parse("Bộ"),
            Err(OrganIdError::BadCharacter { .. })
        ));
        assert!(matches!(
            OrganId::parse(&"a".repeat(65)),
            Err(OrganIdError::TooLong(65))
        ));
    }
}
