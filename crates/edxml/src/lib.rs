//! The edXML message model (QCVN 102:2016/BTTTT) as docaxis understands it.
//!
//! This crate is pure logic: types for the document and status messages,
//! strict parsing from bytes, serialization back to bytes, and validation
//! with errors a clerk can act on. It does no I/O and knows nothing about
//! signatures beyond carrying the `Signature` element's fields.

pub mod organ_id;

pub use organ_id::{OrganId, OrganIdError};
