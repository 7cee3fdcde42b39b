//! Hardened XML reading and W3C Exclusive XML Canonicalization.
//!
//! docaxis reads XML that arrives from other agencies over a national
//! network, so this crate is the one place where untrusted bytes become a
//! tree. It is deliberately small and strict:
//!
//! - input must be UTF-8 and well-formed XML 1.0 with namespaces;
//! - a `DOCTYPE` is refused outright, so there is no entity expansion and no
//!   external entity, ever (no billion laughs, no XXE);
//! - every dimension an attacker controls is bounded by [`Limits`]: total
//!   size, nesting depth, element count, attributes per element, attribute
//!   and name length;
//! - every error carries the line and column where it was found.
//!
//! The tree ([`Document`], [`Element`], [`Node`]) borrows from the input
//! wherever no unescaping is needed, so a document with a large base64
//! attachment is not copied. [`c14n`] implements Exclusive XML
//! Canonicalization 1.0 (without comments) over that tree, streaming its
//! output into any [`std::io::Write`] — typically a hasher — and also
//! while parsing, with no tree at all ([`c14n::CanonicalSink`], a [`Sink`]
//! for [`parse_into`]): the signer's path.

pub mod c14n;
mod dom;
mod error;
mod limits;

pub use dom::{
    parse_into, Attribute, Document, Element, Node, NsDecl, ProcessingInstruction, Sink, XML_NS,
};
pub use error::{Position, XmlError, XmlErrorKind};
pub use limits::Limits;
