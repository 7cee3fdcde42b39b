//! Bounds on what the parser accepts.

/// Bounds on every dimension of an XML document that an attacker controls.
///
/// The defaults admit any real edXML document (including attachments of
/// tens of megabytes) while refusing the classic bombs quickly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest document, in bytes.
    pub max_bytes: usize,
    /// Deepest element nesting (the root element is depth 1).
    pub max_depth: usize,
    /// Most elements in the whole document (width bombs).
    pub max_elements: usize,
    /// Most attributes (namespace declarations included) on one element.
    pub max_attributes: usize,
    /// Longest attribute value, in bytes.
    pub max_attribute_len: usize,
    /// Longest element or attribute name, in bytes.
    pub max_name_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 64 * 1024 * 1024,
            max_depth: 32,
            max_elements: 100_000,
            max_attributes: 32,
            max_attribute_len: 8 * 1024,
            max_name_len: 256,
        }
    }
}
