//! The edXML message model (QCVN 102:2016/BTTTT) as docaxis understands it.
//!
//! This crate is pure logic: types for the document and status messages
//! ([`Message`]), strict parsing from bytes ([`parse`]), serialization back
//! to bytes ([`serialize`]), and validation with errors a clerk can act on
//! ([`validate`]): the field's path, what is wrong, and the line and column.
//! It does no I/O and knows nothing about signatures beyond carrying the
//! `Signature` element's fields ([`SignatureInfo`]).
//!
//! ```
//! let xml = docaxis_edxml::example_document_xml();
//! let parsed = docaxis_edxml::parse(xml.as_bytes(), &Default::default()).unwrap();
//! assert_eq!(parsed.message.from().organ_id.as_str(), "000.00.00.G22");
//! ```

mod compose;
mod datetime;
mod error;
mod example;
mod model;
mod organ_id;
mod parse;
mod serialize;
mod validate;

pub use compose::{content_type_for, organization, subject_from_text, Draft};
pub use datetime::{DateError, EdDate, EdTimestamp, VIETNAM};
pub use error::{FieldError, ParseError};
pub use example::{example_document, example_document_xml};
pub use model::*;
pub use organ_id::{OrganId, OrganIdError, MAX_ORGAN_ID_LEN};
pub use parse::{parse, parse_dom, ParseLimits, Parsed, SourceMap};
pub use serialize::{serialize, signature_element, signed_info_element};
pub use validate::{validate, Directory as KnownAgencies, NoDirectory, MAX_SUBJECT_CHARS};
