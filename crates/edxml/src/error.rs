//! Errors a clerk can act on: which field, what is wrong, where.

use std::fmt;

use docaxis_xml::{Position, XmlError};

/// One problem with one field.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    /// The field's path, e.g. `MessageHeader/To[2]/OrganId` (repeated
    /// elements are numbered from 1).
    pub path: String,
    /// What is wrong and, where it helps, how to fix it.
    pub message: String,
    /// Line and column in the source, when the message was parsed.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_position"
    )]
    pub position: Option<Position>,
}

fn ser_position<S: serde::Serializer>(p: &Option<Position>, s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeStruct;
    let p = p.unwrap_or_default();
    let mut st = s.serialize_struct("Position", 2)?;
    st.serialize_field("line", &p.line)?;
    st.serialize_field("column", &p.column)?;
    st.end()
}

impl FieldError {
    /// A problem at `path`, position unknown yet.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            path: path.into(),
            message: message.into(),
            position: None,
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)?;
        if let Some(p) = &self.position {
            write!(f, " (line {}, column {})", p.line, p.column)?;
        }
        Ok(())
    }
}

/// Why bytes are not an acceptable edXML message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not well-formed, or refused by the hardened reader (DOCTYPE, limits).
    #[error("{0}")]
    Xml(#[from] XmlError),
    /// Well-formed XML, but fields are missing, repeated or malformed.
    #[error("{}", list(.0))]
    Invalid(Vec<FieldError>),
}

impl ParseError {
    /// The field errors, if that is the kind of error.
    pub fn field_errors(&self) -> &[FieldError] {
        match self {
            ParseError::Invalid(v) => v,
            ParseError::Xml(_) => &[],
        }
    }
}

fn list(errors: &[FieldError]) -> String {
    let mut s = format!(
        "{} problem{} in the edXML message:",
        errors.len(),
        if errors.len() == 1 { "" } else { "s" }
    );
    for e in errors {
        s.push_str("\n  - ");
        s.push_str(&e.to_string());
    }
    s
}
