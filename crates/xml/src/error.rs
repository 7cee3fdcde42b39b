//! Parse errors with the place they were found.

use std::fmt;

/// Where in the input something was found: byte offset, 1-based line and
/// column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    /// Byte offset from the start of the input.
    pub offset: usize,
    /// Line number, from 1.
    pub line: usize,
    /// Column number in characters, from 1.
    pub column: usize,
}

impl Position {
    /// Computes line and column of `offset` in `source`.
    ///
    /// Done only when an error or a validation message needs it, so parsing
    /// itself never pays for line counting.
    pub fn locate(source: &[u8], offset: usize) -> Position {
        let offset = offset.min(source.len());
        let before = &source[..offset];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        // Count characters, not bytes: a UTF-8 continuation byte is 10xxxxxx.
        let column = before[line_start..]
            .iter()
            .filter(|&&b| (b & 0xC0) != 0x80)
            .count()
            + 1;
        Position {
            offset,
            line,
            column,
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// What is wrong with a document, without the place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum XmlErrorKind {
    /// The document is larger than [`crate::Limits::max_bytes`].
    #[error("document is {size} bytes, more than the limit of {limit} bytes")]
    TooLarge {
        /// Size of the input.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Elements nest deeper than [`crate::Limits::max_depth`].
    #[error("elements nest deeper than the limit of {limit} levels")]
    TooDeep {
        /// The limit.
        limit: usize,
    },
    /// More elements than [`crate::Limits::max_elements`].
    #[error("document has more than the limit of {limit} elements")]
    TooManyElements {
        /// The limit.
        limit: usize,
    },
    /// An element has more attributes than [`crate::Limits::max_attributes`].
    #[error("element <{element}> has more than the limit of {limit} attributes")]
    TooManyAttributes {
        /// The element's name.
        element: String,
        /// The limit.
        limit: usize,
    },
    /// An attribute value is longer than [`crate::Limits::max_attribute_len`].
    #[error("attribute {name} is {len} bytes long, more than the limit of {limit}")]
    AttributeTooLong {
        /// The attribute's name.
        name: String,
        /// Its length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// A name is longer than [`crate::Limits::max_name_len`].
    #[error("a name is {len} bytes long, more than the limit of {limit}")]
    NameTooLong {
        /// Its length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// A document type declaration was found.
    #[error("DOCTYPE declarations are refused: docaxis never expands entities or loads external resources; remove the <!DOCTYPE ...> line")]
    DoctypeForbidden,
    /// A reference to an entity other than the five predefined ones.
    #[error("entity reference &{0}; is refused: only &amp; &lt; &gt; &quot; &apos; and character references are allowed")]
    UnknownEntity(String),
    /// The input is not UTF-8.
    #[error("input is not valid UTF-8; edXML must be encoded in UTF-8")]
    NotUtf8,
    /// The XML declaration names another encoding.
    #[error("the XML declaration says encoding {0:?}; docaxis accepts only UTF-8")]
    UnsupportedEncoding(String),
    /// A character that XML 1.0 does not allow.
    #[error("character U+{0:04X} is not allowed in XML 1.0")]
    InvalidChar(u32),
    /// A prefix used without a declaration.
    #[error("namespace prefix {0:?} is used but never declared")]
    UnboundPrefix(String),
    /// A namespace declaration that XML Namespaces 1.0 forbids.
    #[error("invalid namespace declaration: {0}")]
    BadNamespaceDeclaration(String),
    /// The same attribute twice on one element.
    #[error("attribute {0} appears twice on the same element")]
    DuplicateAttribute(String),
    /// No root element.
    #[error("the document has no root element")]
    NoRootElement,
    /// Content other than white space, comments and processing instructions
    /// outside the root element.
    #[error("content outside the root element: {0}")]
    ContentOutsideRoot(String),
    /// Any other well-formedness error reported by the tokenizer.
    #[error("malformed XML: {0}")]
    Malformed(String),
}

/// A document could not be read, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlError {
    /// What is wrong.
    pub kind: XmlErrorKind,
    /// Where it was found, when known.
    pub position: Option<Position>,
}

impl XmlError {
    pub(crate) fn at(kind: XmlErrorKind, source: &[u8], offset: usize) -> XmlError {
        XmlError {
            kind,
            position: Some(Position::locate(source, offset)),
        }
    }
}

impl fmt::Display for XmlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.position {
            Some(p) => write!(f, "{} (at {p})", self.kind),
            None => write!(f, "{}", self.kind),
        }
    }
}

impl std::error::Error for XmlError {}
