//! A small namespace-aware tree, built from quick-xml events under [`Limits`].
//!
//! Why a tree and not a pure event stream: edXML documents are small apart
//! from their attachments, and both users of this crate (the edXML model and
//! the XML-DSig verifier) need to look at the same element more than once
//! (the verifier canonicalizes the document *without* the signature, then
//! the signature's `SignedInfo` alone). Text and names borrow from the input,
//! so the tree costs little beyond the input itself.
//!
//! The parser keeps an explicit stack instead of recursing, so no input can
//! overflow the thread's stack, and it never resolves an entity other than
//! the five predefined ones and character references.
//!
//! The parser hands what it reads to a [`Sink`]; the tree is one sink, and
//! [`crate::c14n::CanonicalSink`] another, which writes the canonical form
//! while reading, with no tree (the signer needs nothing else). Every check
//! is the parser's, so both sinks refuse exactly the same inputs.

use std::borrow::Cow;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use crate::error::{XmlError, XmlErrorKind};
use crate::limits::Limits;

/// The namespace bound to the `xml` prefix by definition.
pub const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";
/// The namespace of `xmlns` declarations; never bindable.
const XMLNS_NS: &str = "http://www.w3.org/2000/xmlns/";

/// A parsed document: the root element and the processing instructions
/// around it. Comments are dropped (canonical XML without comments ignores
/// them and no edXML field lives in one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document<'a> {
    source: &'a [u8],
    /// Processing instructions before the root element.
    pub prolog: Vec<ProcessingInstruction<'a>>,
    /// The root element.
    pub root: Element<'a>,
    /// Processing instructions after the root element.
    pub epilog: Vec<ProcessingInstruction<'a>>,
}

/// A processing instruction `<?target data?>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessingInstruction<'a> {
    /// The target name.
    pub target: &'a str,
    /// Everything after the target and its following white space.
    pub data: &'a str,
}

/// A namespace declaration (`xmlns="..."` or `xmlns:p="..."`) as written on
/// an element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NsDecl<'a> {
    /// The declared prefix; `None` for the default namespace.
    pub prefix: Option<&'a str>,
    /// The namespace name; empty only for `xmlns=""`.
    pub uri: Cow<'a, str>,
}

/// An attribute that is not a namespace declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute<'a> {
    /// The prefix as written.
    pub prefix: Option<&'a str>,
    /// The local name.
    pub local: &'a str,
    /// The namespace name (unprefixed attributes have none).
    pub ns: Option<Cow<'a, str>>,
    /// The normalized value, entities resolved.
    pub value: Cow<'a, str>,
}

/// An element with its resolved namespace, attributes and children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element<'a> {
    /// The prefix as written.
    pub prefix: Option<&'a str>,
    /// The local name.
    pub local: &'a str,
    /// The namespace name, if any.
    pub ns: Option<Cow<'a, str>>,
    /// Namespace declarations written on this element.
    pub ns_decls: Vec<NsDecl<'a>>,
    /// Attributes other than namespace declarations, in document order.
    pub attrs: Vec<Attribute<'a>>,
    /// Child nodes in document order; adjacent text is merged.
    pub children: Vec<Node<'a>>,
    /// Byte offset of the start tag's `<`.
    pub offset: usize,
    /// Byte offset of the end tag's `<`; `None` for an empty-element tag.
    pub end_offset: Option<usize>,
}

/// A child of an element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node<'a> {
    /// A child element.
    Element(Element<'a>),
    /// Character data: entities resolved, CDATA sections unwrapped, line
    /// ends normalized.
    Text(Cow<'a, str>),
    /// A processing instruction.
    Pi(ProcessingInstruction<'a>),
}

/// Receives a document as the parser reads it, in document order.
///
/// The parser has done every check before it calls the sink: the calls
/// always describe well-formed, namespace-resolved content within the
/// limits, with start and end balanced. When the input turns out to be bad
/// further on, [`parse_into`] returns the error and the sink has seen only
/// a prefix of the document: discard what it made.
pub trait Sink<'a> {
    /// The input about to be read, before any other call; the offsets in
    /// later calls are offsets in it, and borrowed names and text are
    /// slices of it.
    fn source(&mut self, _input: &'a [u8]) {}
    /// A start tag or empty-element tag; `element.children` is empty and
    /// `element.end_offset` is `None`.
    fn start(&mut self, element: Element<'a>);
    /// The end of the innermost open element: the offset of its end tag's
    /// `<`, or `None` for an empty-element tag.
    fn end(&mut self, end_offset: Option<usize>);
    /// Character data inside the root element: references resolved, CDATA
    /// unwrapped, line ends normalized. Adjacent text may come in several
    /// pieces.
    fn text(&mut self, text: Cow<'a, str>);
    /// A processing instruction, before, inside or after the root element.
    fn pi(&mut self, pi: ProcessingInstruction<'a>);
}

/// Reads `input` under `limits`, handing it to `sink`, with every check
/// [`Document::parse`] makes.
pub fn parse_into<'a, S: Sink<'a>>(
    input: &'a [u8],
    limits: &Limits,
    sink: &mut S,
) -> Result<(), XmlError> {
    let parser = Parser::new(input, limits)?;
    sink.source(input);
    parser.run(sink)
}

/// The sink that builds a [`Document`].
///
/// Every node, elements included, goes onto one shared stack as soon as it
/// is read, in document order; an open element stays there at its place,
/// and when it ends, the nodes after it (its children) are moved into an
/// exactly sized vector inside it. So an element is moved once, into the
/// stack, plus once with its siblings into their parent: one allocation
/// per element with children, none per element without, and no vector
/// grown by doubling.
#[derive(Default)]
struct TreeBuilder<'a> {
    prolog: Vec<ProcessingInstruction<'a>>,
    epilog: Vec<ProcessingInstruction<'a>>,
    root: Option<Element<'a>>,
    /// Where each open element sits in `nodes`, innermost last.
    open: Vec<usize>,
    /// The open elements and the children so far of each, outermost first.
    nodes: Vec<Node<'a>>,
    /// Text not yet added, so adjacent pieces become one node.
    pending_text: Option<Cow<'a, str>>,
}

impl<'a> TreeBuilder<'a> {
    fn flush_text(&mut self) {
        if let Some(t) = self.pending_text.take() {
            if !self.open.is_empty() {
                self.nodes.push(Node::Text(t));
            }
        }
    }
}

// Start and text are inlined into the parser (the hint alone did not do
// it): a text passed through memory to a call was read back before it was
// written through, which perf showed as most of the call's time.
impl<'a> Sink<'a> for TreeBuilder<'a> {
    #[inline(always)]
    fn start(&mut self, element: Element<'a>) {
        self.flush_text();
        self.open.push(self.nodes.len());
        self.nodes.push(Node::Element(element));
    }

    #[inline]
    fn end(&mut self, end_offset: Option<usize>) {
        self.flush_text();
        let Some(at) = self.open.pop() else {
            return; // the parser balances start and end
        };
        // `split_off` moves the children into a vector of exactly their
        // number; an element without children allocates nothing.
        let children = if self.nodes.len() > at + 1 {
            self.nodes.split_off(at + 1)
        } else {
            Vec::new()
        };
        if self.open.is_empty() {
            if let Some(Node::Element(mut element)) = self.nodes.pop() {
                element.end_offset = end_offset;
                element.children = children;
                self.root = Some(element);
            }
        } else if let Some(Node::Element(element)) = self.nodes.get_mut(at) {
            element.end_offset = end_offset;
            element.children = children;
        }
    }

    #[inline(always)]
    fn text(&mut self, content: Cow<'a, str>) {
        self.pending_text = Some(match self.pending_text.take() {
            None => content,
            Some(prev) => {
                let mut s = prev.into_owned();
                s.push_str(&content);
                Cow::Owned(s)
            }
        });
    }

    fn pi(&mut self, pi: ProcessingInstruction<'a>) {
        self.flush_text();
        if !self.open.is_empty() {
            self.nodes.push(Node::Pi(pi));
        } else if self.root.is_none() {
            self.prolog.push(pi);
        } else {
            self.epilog.push(pi);
        }
    }
}

impl<'a> Document<'a> {
    /// Parses `input` under `limits`.
    pub fn parse(input: &'a [u8], limits: &Limits) -> Result<Document<'a>, XmlError> {
        let mut tree = TreeBuilder {
            open: Vec::with_capacity(16),
            nodes: Vec::with_capacity(64),
            ..TreeBuilder::default()
        };
        parse_into(input, limits, &mut tree)?;
        let root = tree
            .root
            .ok_or_else(|| XmlError::at(XmlErrorKind::NoRootElement, input, 0))?;
        Ok(Document {
            source: input,
            prolog: tree.prolog,
            root,
            epilog: tree.epilog,
        })
    }

    /// The bytes this document was parsed from.
    pub fn source(&self) -> &'a [u8] {
        self.source
    }

    /// Line and column of a byte offset in the source.
    pub fn position(&self, offset: usize) -> crate::Position {
        crate::Position::locate(self.source, offset)
    }
}

impl<'a> Element<'a> {
    /// True if this element has namespace `ns` and local name `local`.
    pub fn is(&self, ns: Option<&str>, local: &str) -> bool {
        self.local == local && self.ns.as_deref() == ns
    }

    /// The qualified name as written (`prefix:local` or `local`).
    pub fn qname(&self) -> String {
        match self.prefix {
            Some(p) => format!("{p}:{}", self.local),
            None => self.local.to_owned(),
        }
    }

    /// Child elements, in order.
    pub fn elements(&self) -> impl Iterator<Item = &Element<'a>> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            _ => None,
        })
    }

    /// The concatenated text of the direct text children.
    ///
    /// Borrows when there is a single text child, which is the common case
    /// for leaf fields and for large base64 attachments.
    pub fn text(&self) -> Cow<'a, str> {
        let mut texts = self.children.iter().filter_map(|n| match n {
            Node::Text(t) => Some(t),
            _ => None,
        });
        match (texts.next(), texts.next()) {
            (None, _) => Cow::Borrowed(""),
            (Some(t), None) => t.clone(),
            (Some(a), Some(b)) => {
                let mut s = String::from(a.as_ref());
                s.push_str(b);
                texts.for_each(|t| s.push_str(t));
                Cow::Owned(s)
            }
        }
    }

    /// The value of the attribute with no namespace and this local name.
    pub fn attr(&self, local: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.ns.is_none() && a.local == local)
            .map(|a| a.value.as_ref())
    }
}

/// One open element on the parser's stack.
struct Open<'a> {
    prefix: Option<&'a str>,
    local: &'a str,
    /// How many namespace bindings were in scope before this element.
    scope_mark: usize,
}

struct Parser<'a, 'l> {
    source: &'a [u8],
    text: &'a str,
    limits: &'l Limits,
    reader: Reader<&'a [u8]>,
    /// In-scope namespace bindings, innermost last. `None` prefix is the
    /// default namespace; an empty URI undeclares it.
    scope: Vec<(Option<&'a str>, Cow<'a, str>)>,
    stack: Vec<Open<'a>>,
    /// The root element has been closed.
    root_done: bool,
    elements: usize,
    /// The input holds a carriage return somewhere. Almost none does, and
    /// then no text needs line-end normalization: one vectorized search of
    /// the input instead of one per text.
    has_cr: bool,
}

impl<'a, 'l> Parser<'a, 'l> {
    fn new(source: &'a [u8], limits: &'l Limits) -> Result<Self, XmlError> {
        if source.len() > limits.max_bytes {
            return Err(XmlError {
                kind: XmlErrorKind::TooLarge {
                    size: source.len(),
                    limit: limits.max_bytes,
                },
                position: None,
            });
        }
        let text = utf8(source)?;
        check_chars(source)?;
        let mut reader = Reader::from_str(text);
        let config = reader.config_mut();
        config.expand_empty_elements = false;
        config.check_end_names = true;
        config.check_comments = true;
        config.trim_text(false);
        Ok(Parser {
            source,
            text,
            limits,
            reader,
            scope: Vec::new(),
            stack: Vec::new(),
            root_done: false,
            elements: 0,
            has_cr: memchr::memchr(b'\r', source).is_some(),
        })
    }

    fn err(&self, kind: XmlErrorKind, offset: usize) -> XmlError {
        XmlError::at(kind, self.source, offset)
    }

    /// Re-borrows a slice that quick-xml handed out for the input, with the
    /// input's lifetime.
    ///
    /// quick-xml's accessors tie names and raw values to the event's
    /// lifetime even though, reading from a `&str`, they point into the
    /// input. Finding the slice's offset in the input (plain address
    /// arithmetic, no `unsafe`) lets the tree borrow from the input instead
    /// of copying every name. If the slice is not inside the input, it is
    /// copied.
    #[inline]
    fn rebase(&self, bytes: &[u8]) -> Cow<'a, str> {
        match self.borrow(bytes) {
            Some(s) => Cow::Borrowed(s),
            None => Cow::Owned(String::from_utf8_lossy(bytes).into_owned()),
        }
    }

    /// The slice of the input that `bytes` is, if it is one (`get` still
    /// checks the bounds and character boundaries).
    #[inline]
    fn borrow(&self, bytes: &[u8]) -> Option<&'a str> {
        let off = (bytes.as_ptr() as usize).checked_sub(self.source.as_ptr() as usize)?;
        self.text.get(off..off.checked_add(bytes.len())?)
    }

    /// [`normalize_line_ends`], skipped when the input has no CR at all.
    #[inline]
    fn line_ends(&self, text: Cow<'a, str>) -> Cow<'a, str> {
        if self.has_cr {
            normalize_line_ends(text)
        } else {
            text
        }
    }

    #[inline]
    fn rebase_str(&self, bytes: &[u8], offset: usize) -> Result<&'a str, XmlError> {
        match self.borrow(bytes) {
            Some(s) => Ok(s),
            // Reading from an in-memory &str, quick-xml always borrows.
            None => Err(self.err(
                XmlErrorKind::Malformed("internal: name not borrowed from input".into()),
                offset,
            )),
        }
    }

    fn run<S: Sink<'a>>(mut self, sink: &mut S) -> Result<(), XmlError> {
        loop {
            let offset = self.reader.buffer_position() as usize;
            // The event is matched where quick-xml returned it, inside its
            // `Result`: moved out first, it was copied (written field by
            // field and read back whole, a stall), and kept whole, it was
            // dropped by a call per event.
            match self.reader.read_event() {
                Err(e) => {
                    let at = self.reader.error_position() as usize;
                    return Err(self.err(XmlErrorKind::Malformed(e.to_string()), at));
                }
                Ok(Event::Start(start)) => {
                    if self.root_done {
                        return Err(self.err(
                            XmlErrorKind::ContentOutsideRoot("a second root element".into()),
                            offset,
                        ));
                    }
                    self.open(&start, offset, false, sink)?;
                }
                Ok(Event::Empty(start)) => {
                    if self.root_done {
                        return Err(self.err(
                            XmlErrorKind::ContentOutsideRoot("a second root element".into()),
                            offset,
                        ));
                    }
                    if self.stack.len() >= self.limits.max_depth {
                        return Err(self.err(
                            XmlErrorKind::TooDeep {
                                limit: self.limits.max_depth,
                            },
                            offset,
                        ));
                    }
                    self.open(&start, offset, true, sink)?;
                    self.root_done = self.stack.is_empty();
                }
                Ok(Event::End(_)) => {
                    // check_end_names guarantees a matching open element.
                    let Some(open) = self.stack.pop() else {
                        return Err(self.err(
                            XmlErrorKind::Malformed("end tag without a start tag".into()),
                            offset,
                        ));
                    };
                    self.scope.truncate(open.scope_mark);
                    sink.end(Some(offset));
                    self.root_done = self.stack.is_empty();
                }
                Ok(Event::Text(t)) => {
                    // The input was validated as UTF-8 once, up front; text
                    // between markup is a slice of it, so it is re-borrowed
                    // rather than decoded a second time.
                    let text = self.rebase_str(&t, offset)?;
                    if self.stack.is_empty() {
                        self.outside_root(text, offset)?;
                    } else if self.has_cr {
                        sink.text(normalize_line_ends(Cow::Borrowed(text)));
                    } else {
                        sink.text(Cow::Borrowed(text));
                    }
                }
                Ok(Event::CData(c)) => {
                    let content = self.line_ends(self.rebase(&c));
                    if self.stack.is_empty() {
                        return Err(self.err(
                            XmlErrorKind::ContentOutsideRoot("a CDATA section".into()),
                            offset,
                        ));
                    }
                    sink.text(content);
                }
                Ok(Event::GeneralRef(r)) => {
                    let name = self.rebase(r.as_ref());
                    let ch = resolve_reference(&name).map_err(|k| self.err(k, offset))?;
                    if self.stack.is_empty() {
                        return Err(self.err(
                            XmlErrorKind::ContentOutsideRoot(format!("reference &{name};")),
                            offset,
                        ));
                    }
                    sink.text(Cow::Owned(ch.to_string()));
                }
                Ok(Event::Comment(_)) => {}
                Ok(Event::Decl(decl)) => {
                    if let Some(enc) = decl.encoding() {
                        let enc = enc.map_err(|e| {
                            self.err(XmlErrorKind::Malformed(e.to_string()), offset)
                        })?;
                        if !enc.eq_ignore_ascii_case(b"utf-8") {
                            return Err(self.err(
                                XmlErrorKind::UnsupportedEncoding(
                                    String::from_utf8_lossy(&enc).into_owned(),
                                ),
                                offset,
                            ));
                        }
                    }
                }
                Ok(Event::PI(pi)) => {
                    let target = self.rebase_str(pi.target(), offset)?;
                    if target.eq_ignore_ascii_case("xml") {
                        return Err(self.err(
                            XmlErrorKind::Malformed(
                                "an XML declaration is only allowed at the very start".into(),
                            ),
                            offset,
                        ));
                    }
                    let data = self.rebase_str(pi.content(), offset)?.trim_start();
                    sink.pi(ProcessingInstruction { target, data });
                }
                Ok(Event::DocType(_)) => {
                    return Err(self.err(XmlErrorKind::DoctypeForbidden, offset))
                }
                Ok(Event::Eof) => break,
            }
        }
        if let Some(open) = self.stack.last() {
            let qname = match open.prefix {
                Some(p) => format!("{p}:{}", open.local),
                None => open.local.to_owned(),
            };
            return Err(self.err(
                XmlErrorKind::Malformed(format!("<{qname}> is never closed")),
                self.source.len(),
            ));
        }
        if !self.root_done {
            return Err(self.err(XmlErrorKind::NoRootElement, 0));
        }
        Ok(())
    }

    /// Text outside the root may only be white space.
    fn outside_root(&self, text: &str, offset: usize) -> Result<(), XmlError> {
        if text.chars().all(is_xml_space) {
            return Ok(());
        }
        let what = if self.root_done {
            "text after the root element"
        } else {
            "text before the root element"
        };
        Err(self.err(XmlErrorKind::ContentOutsideRoot(what.into()), offset))
    }

    /// Builds an element from a start tag (or empty-element tag, `empty`):
    /// splits names, reads attributes, pushes its namespace declarations
    /// onto the scope, resolves names, opens it and hands it to the sink.
    ///
    /// The element is built where the sink's call takes it: returned to
    /// the caller first, it was copied twice on the way (it is 152 bytes).
    fn open<S: Sink<'a>>(
        &mut self,
        start: &BytesStart<'_>,
        offset: usize,
        empty: bool,
        sink: &mut S,
    ) -> Result<(), XmlError> {
        self.elements += 1;
        if self.elements > self.limits.max_elements {
            return Err(self.err(
                XmlErrorKind::TooManyElements {
                    limit: self.limits.max_elements,
                },
                offset,
            ));
        }
        let qname = self.rebase_str(start.name().as_ref(), offset)?;
        let (prefix, local) = self.split_name(qname, offset)?;
        if prefix == Some("xmlns") {
            return Err(self.err(
                XmlErrorKind::BadNamespaceDeclaration(format!(
                    "element <{qname}> uses the reserved prefix xmlns"
                )),
                offset,
            ));
        }

        let mut ns_decls = Vec::new();
        let mut raw_attrs: Vec<(Option<&'a str>, &'a str, Cow<'a, str>)> = Vec::new();
        let mut count = 0;
        // Most tags have no attribute: nothing to iterate for them.
        let mut attributes = start.attributes();
        attributes.with_checks(true);
        let any = start
            .attributes_raw()
            .iter()
            .any(|&b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
        // (`take`, not an `Option` flattened: that moved the iterator state
        // on every step.)
        for attr in attributes.take(if any { usize::MAX } else { 0 }) {
            let attr = attr.map_err(|e| match e {
                quick_xml::events::attributes::AttrError::Duplicated(..) => self.err(
                    XmlErrorKind::DuplicateAttribute(format!("on <{qname}>")),
                    offset,
                ),
                other => self.err(XmlErrorKind::Malformed(other.to_string()), offset),
            })?;
            count += 1;
            if count > self.limits.max_attributes {
                return Err(self.err(
                    XmlErrorKind::TooManyAttributes {
                        element: qname.to_owned(),
                        limit: self.limits.max_attributes,
                    },
                    offset,
                ));
            }
            let name = self.rebase_str(attr.key.as_ref(), offset)?;
            if attr.value.len() > self.limits.max_attribute_len {
                return Err(self.err(
                    XmlErrorKind::AttributeTooLong {
                        name: name.to_owned(),
                        len: attr.value.len(),
                        limit: self.limits.max_attribute_len,
                    },
                    offset,
                ));
            }
            let raw = self.rebase(&attr.value);
            let value = normalize_attribute(raw).map_err(|k| self.err(k, offset))?;
            let (aprefix, alocal) = self.split_name(name, offset)?;
            match (aprefix, alocal) {
                (None, "xmlns") => ns_decls.push(NsDecl {
                    prefix: None,
                    uri: value,
                }),
                (Some("xmlns"), p) => ns_decls.push(NsDecl {
                    prefix: Some(p),
                    uri: value,
                }),
                _ => raw_attrs.push((aprefix, alocal, value)),
            }
        }

        for decl in &ns_decls {
            self.check_decl(decl, offset)?;
            self.scope.push((decl.prefix, decl.uri.clone()));
        }

        let ns = self.resolve(prefix, offset)?;
        let mut attrs: Vec<Attribute<'a>> = Vec::with_capacity(raw_attrs.len());
        for (aprefix, alocal, value) in raw_attrs {
            let ans = match aprefix {
                None => None,
                Some(_) => self.resolve(aprefix, offset)?,
            };
            // Namespaces 1.0: no two attributes with the same expanded name.
            if attrs.iter().any(|a| a.local == alocal && a.ns == ans) {
                return Err(self.err(
                    XmlErrorKind::DuplicateAttribute(format!(
                        "{} on <{qname}> (same namespace and local name)",
                        alocal
                    )),
                    offset,
                ));
            }
            attrs.push(Attribute {
                prefix: aprefix,
                local: alocal,
                ns: ans,
                value,
            });
        }

        if self.stack.len() >= self.limits.max_depth {
            return Err(self.err(
                XmlErrorKind::TooDeep {
                    limit: self.limits.max_depth,
                },
                offset,
            ));
        }
        let scope_mark = self.scope.len() - ns_decls.len();
        if empty {
            self.scope.truncate(scope_mark);
        } else {
            self.stack.push(Open {
                prefix,
                local,
                scope_mark,
            });
        }
        sink.start(Element {
            prefix,
            local,
            ns,
            ns_decls,
            attrs,
            children: Vec::new(),
            offset,
            end_offset: None,
        });
        if empty {
            sink.end(None);
        }
        Ok(())
    }

    fn split_name(
        &self,
        name: &'a str,
        offset: usize,
    ) -> Result<(Option<&'a str>, &'a str), XmlError> {
        if name.len() > self.limits.max_name_len {
            return Err(self.err(
                XmlErrorKind::NameTooLong {
                    len: name.len(),
                    limit: self.limits.max_name_len,
                },
                offset,
            ));
        }
        // One pass finds the colon and applies the ASCII rule to the rest
        // (':' is ASCII, so the split falls on a character boundary); a
        // name with another byte, or a second colon, is looked at again.
        let mut colon = None;
        let mut all = NAME_CHAR;
        for (i, &b) in name.as_bytes().iter().enumerate() {
            if b == b':' && colon.is_none() {
                colon = Some(i);
            } else {
                all &= NAME_CLASS[usize::from(b)];
            }
        }
        let (prefix, local) = match colon {
            None => (None, name),
            Some(i) => (Some(&name[..i]), &name[i + 1..]),
        };
        let starts = |s: &str| {
            s.as_bytes()
                .first()
                .is_some_and(|&b| NAME_CLASS[usize::from(b)] & NAME_START != 0)
        };
        let ascii_ok = all & NAME_CHAR != 0 && prefix.is_none_or(starts) && starts(local);
        if !ascii_ok && (prefix.is_some_and(|p| !is_ncname(p)) || !is_ncname(local)) {
            return Err(self.err(
                XmlErrorKind::Malformed(format!("{name:?} is not a valid qualified name")),
                offset,
            ));
        }
        Ok((prefix, local))
    }

    fn check_decl(&self, decl: &NsDecl<'a>, offset: usize) -> Result<(), XmlError> {
        let bad = |msg: String| Err(self.err(XmlErrorKind::BadNamespaceDeclaration(msg), offset));
        match decl.prefix {
            Some("xmlns") => bad("the prefix xmlns cannot be declared".into()),
            Some("xml") if decl.uri != XML_NS => {
                bad("the prefix xml can only be bound to its own namespace".into())
            }
            Some(p) if decl.uri.is_empty() => bad(format!(
                "xmlns:{p}=\"\" is not allowed in XML 1.0 (a prefix cannot be undeclared)"
            )),
            p if p != Some("xml") && (decl.uri == XML_NS || decl.uri == XMLNS_NS) => {
                bad(format!("{} cannot be bound to another prefix", decl.uri))
            }
            _ => Ok(()),
        }
    }

    /// Resolves a prefix (or the default namespace) in the current scope.
    ///
    /// Inlined: its result, returned through memory, was read back before
    /// it was written through (a stall on every element).
    #[inline]
    fn resolve(
        &self,
        prefix: Option<&'a str>,
        offset: usize,
    ) -> Result<Option<Cow<'a, str>>, XmlError> {
        if prefix == Some("xml") {
            return Ok(Some(Cow::Borrowed(XML_NS)));
        }
        let bound = |p: &Option<&str>| match (p, prefix) {
            (Some(a), Some(b)) => eq_short(a.as_bytes(), b.as_bytes()),
            (a, b) => a.is_none() && b.is_none(),
        };
        match self.scope.iter().rev().find(|(p, _)| bound(p)) {
            Some((_, uri)) if uri.is_empty() => Ok(None),
            Some((_, uri)) => Ok(Some(uri.clone())),
            None => match prefix {
                None => Ok(None),
                Some(p) => Err(self.err(XmlErrorKind::UnboundPrefix(p.to_owned()), offset)),
            },
        }
    }
}

/// Checks that `source` is UTF-8: a vectorized pass, and only on failure
/// the standard library's, which says where the first bad byte is.
fn utf8(source: &[u8]) -> Result<&str, XmlError> {
    simdutf8::basic::from_utf8(source).or_else(|_| {
        std::str::from_utf8(source)
            .map_err(|e| XmlError::at(XmlErrorKind::NotUtf8, source, e.valid_up_to()))
    })
}

fn is_xml_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// Refuses characters XML 1.0 does not allow anywhere: C0 controls other
/// than tab, line feed and carriage return, and U+FFFE / U+FFFF.
///
/// One pass over the bytes up front keeps the rest of the parser simple.
fn check_chars(source: &[u8]) -> Result<(), XmlError> {
    // Fast path: a branch-free test over 64-byte chunks (exact chunks, so
    // the compiler unrolls and vectorizes it with no loop over a remainder,
    // and accumulates in a byte rather than a `bool`); only a chunk that may
    // hold a problem, and the short tail, are looked at byte by byte. 0xEF
    // is the lead byte of U+FFFE / U+FFFF.
    let suspicious = |chunk: &[u8]| {
        chunk.iter().fold(0u8, |acc, &b| {
            let control = (b < 0x20) & (b != b'\t') & (b != b'\n') & (b != b'\r');
            acc | u8::from(control | (b == 0xEF))
        }) != 0
    };
    let chunks = source.chunks_exact(64);
    let tail = source.len() - chunks.remainder().len();
    for (n, chunk) in chunks.enumerate() {
        if suspicious(chunk) {
            // Include two bytes of the next chunk for a split U+FFFE.
            let start = n * 64;
            let end = (start + 66).min(source.len());
            check_chars_slow(source, start, end)?;
        }
    }
    check_chars_slow(source, tail, source.len())
}

fn check_chars_slow(source: &[u8], start: usize, end: usize) -> Result<(), XmlError> {
    for (i, &b) in source.iter().enumerate().take(end).skip(start) {
        if b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r') {
            return Err(XmlError::at(XmlErrorKind::InvalidChar(b as u32), source, i));
        }
        if b == 0xEF && source.get(i + 1) == Some(&0xBF) {
            if let Some(&c @ (0xBE | 0xBF)) = source.get(i + 2) {
                let cp = 0xFFFE + u32::from(c - 0xBE);
                return Err(XmlError::at(XmlErrorKind::InvalidChar(cp), source, i));
            }
        }
    }
    Ok(())
}

/// NCName (Namespaces in XML 1.0): a name without a colon. ASCII is held
/// to the exact rule; beyond ASCII every character from U+00C0 on is
/// allowed (XML 1.0 fifth edition's ranges, minus a few symbols nobody uses
/// in names), which keeps Vietnamese element names working.
#[inline]
fn is_ncname(s: &str) -> bool {
    // Almost every name is ASCII: one table lookup per byte, and the
    // character rules below only for a name with a non-ASCII byte.
    let bytes = s.as_bytes();
    let Some((&first, rest)) = bytes.split_first() else {
        return false;
    };
    let mut ok = NAME_CLASS[usize::from(first)] & NAME_START != 0;
    for &b in rest {
        ok &= NAME_CLASS[usize::from(b)] & NAME_CHAR != 0;
    }
    ok || (!s.is_ascii() && is_ncname_chars(s))
}

/// [`is_ncname`] by characters: the rule itself.
#[cold]
#[inline(never)]
fn is_ncname_chars(s: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    let start = |c: char| {
        c.is_ascii_alphabetic() || c == '_' || (c >= '\u{C0}' && c != '\u{D7}' && c != '\u{F7}')
    };
    start(first)
        && chars.all(|c| start(c) || c.is_ascii_digit() || matches!(c, '.' | '-' | '\u{B7}'))
}

/// [`NAME_CLASS`] bit: the ASCII byte may start an NCName.
const NAME_START: u8 = 1;
/// [`NAME_CLASS`] bit: the ASCII byte may continue an NCName.
const NAME_CHAR: u8 = 2;
/// The classes of each byte value; non-ASCII bytes have none, so a name
/// holding one fails the fast test and is checked by characters.
const NAME_CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        let start = c.is_ascii_alphabetic() || c == b'_';
        if start {
            table[b] |= NAME_START;
        }
        if start || c.is_ascii_digit() || c == b'.' || c == b'-' {
            table[b] |= NAME_CHAR;
        }
        b += 1;
    }
    table
};

/// Byte equality for names and namespace URIs, which are short: a word at
/// a time, with overlapping loads for the ends, inline (a call to `memcmp`
/// per comparison costs more than the comparison).
#[inline]
pub(crate) fn eq_short(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word = |s: &[u8], i: usize| {
        s.get(i..i + 8)
            .map(|w| u64::from_le_bytes(w.try_into().unwrap_or_default()))
    };
    let half = |s: &[u8], i: usize| {
        s.get(i..i + 4)
            .map(|w| u32::from_le_bytes(w.try_into().unwrap_or_default()))
    };
    match n {
        0..=3 => a.iter().zip(b).all(|(x, y)| x == y),
        4..=8 => half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4),
        _ => {
            (0..n - 8).step_by(8).all(|i| word(a, i) == word(b, i))
                && word(a, n - 8) == word(b, n - 8)
        }
    }
}

/// XML 1.0 §2.11: CR LF and lone CR become LF. Borrows when there is no CR.
fn normalize_line_ends(text: Cow<'_, str>) -> Cow<'_, str> {
    if memchr::memchr(b'\r', text.as_bytes()).is_none() {
        return text;
    }
    Cow::Owned(text.replace("\r\n", "\n").replace('\r', "\n"))
}

fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Resolves `&name;` (given `name`) to its character: the five predefined
/// entities and character references, nothing else.
fn resolve_reference(name: &str) -> Result<char, XmlErrorKind> {
    let ch = if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix('x') {
            Some(hex) if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
                u32::from_str_radix(hex, 16).ok()
            }
            None if !num.is_empty() && num.bytes().all(|b| b.is_ascii_digit()) => num.parse().ok(),
            _ => None,
        };
        let code = code.ok_or_else(|| {
            XmlErrorKind::Malformed(format!("&{name}; is not a valid character reference"))
        })?;
        let ch = char::from_u32(code).ok_or(XmlErrorKind::InvalidChar(code))?;
        if !is_xml_char(ch) {
            return Err(XmlErrorKind::InvalidChar(code));
        }
        ch
    } else {
        match name {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            other => return Err(XmlErrorKind::UnknownEntity(other.to_owned())),
        }
    };
    Ok(ch)
}

/// Attribute-value normalization (XML 1.0 §3.3.3, CDATA type): every literal
/// white-space character becomes a space (a CR LF pair one space), then
/// references are resolved, so `&#10;` survives as a line feed.
fn normalize_attribute(raw: Cow<'_, str>) -> Result<Cow<'_, str>, XmlErrorKind> {
    if !raw
        .bytes()
        .any(|b| matches!(b, b'&' | b'\t' | b'\n' | b'\r' | b'<'))
    {
        return Ok(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw.as_ref();
    while let Some(c) = rest.chars().next() {
        match c {
            '<' => {
                return Err(XmlErrorKind::Malformed(
                    "'<' is not allowed in an attribute value; write &lt;".into(),
                ))
            }
            '\r' => {
                out.push(' ');
                rest = rest[1..].strip_prefix('\n').unwrap_or(&rest[1..]);
                continue;
            }
            '\t' | '\n' => out.push(' '),
            '&' => {
                let end = rest.find(';').ok_or_else(|| {
                    XmlErrorKind::Malformed(
                        "'&' in an attribute value must start a reference; write &amp;".into(),
                    )
                })?;
                out.push(resolve_reference(&rest[1..end])?);
                rest = &rest[end + 1..];
                continue;
            }
            c => out.push(c),
        }
        rest = &rest[c.len_utf8()..];
    }
    Ok(Cow::Owned(out))
}

#[cfg(test)]
mod tests {

    #[test]
    fn ncname_table_agrees_with_the_character_rule() {
        let alphabet: Vec<char> = (0u8..128)
            .map(char::from)
            .chain(['\u{B7}', '\u{C0}', '\u{D7}', '\u{F7}', 'ế', 'Đ'])
            .collect();
        let mut names: Vec<String> = vec![String::new()];
        for &a in &alphabet {
            names.push(a.to_string());
            for &b in &alphabet {
                names.push(format!("{a}{b}"));
            }
        }
        names.extend(["edXML", "Văn_bản", "a-1.b", "1a", "-a", "_", "a:b"].map(String::from));
        for name in &names {
            assert_eq!(is_ncname(name), is_ncname_chars(name), "{name:?}");
        }
    }

    use super::*;

    fn parse(s: &str) -> Result<Document<'_>, XmlError> {
        Document::parse(s.as_bytes(), &Limits::default())
    }

    #[test]
    fn namespaces_resolve_for_prefixed_and_default_forms() {
        let a = parse(r#"<e:a xmlns:e="urn:x"><e:b>1</e:b></e:a>"#).unwrap();
        let b = parse(r#"<a xmlns="urn:x"><b>1</b></a>"#).unwrap();
        for d in [&a, &b] {
            assert!(d.root.is(Some("urn:x"), "a"));
            let child = d.root.elements().next().unwrap();
            assert!(child.is(Some("urn:x"), "b"));
            assert_eq!(child.text(), "1");
        }
    }

    #[test]
    fn text_merges_entities_cdata_and_normalizes_line_ends() {
        let d = parse("<a>x &amp; y&#10;<![CDATA[<z>]]>\r\nw<!-- c -->v</a>").unwrap();
        assert_eq!(d.root.text(), "x & y\n<z>\nwv");
    }

    #[test]
    fn attribute_values_are_normalized() {
        let d = parse("<a b=\"1\t2\r\n3&#10;&quot;\"/>").unwrap();
        assert_eq!(d.root.attr("b"), Some("1 2 3\n\""));
    }

    #[test]
    fn doctype_is_refused() {
        let e = parse("<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>").unwrap_err();
        assert_eq!(e.kind, XmlErrorKind::DoctypeForbidden);
        assert_eq!(e.position.unwrap().line, 1);
    }

    #[test]
    fn unknown_entities_are_refused() {
        let e = parse("<a>&x;</a>").unwrap_err();
        assert_eq!(e.kind, XmlErrorKind::UnknownEntity("x".into()));
    }

    #[test]
    fn limits_are_enforced() {
        let limits = Limits {
            max_depth: 3,
            ..Limits::default()
        };
        let e = Document::parse(b"<a><b><c><d/></c></b></a>", &limits).unwrap_err();
        assert_eq!(e.kind, XmlErrorKind::TooDeep { limit: 3 });
        let limits = Limits {
            max_bytes: 10,
            ..Limits::default()
        };
        assert!(matches!(
            Document::parse(b"<a>0123456789</a>", &limits)
                .unwrap_err()
                .kind,
            XmlErrorKind::TooLarge { .. }
        ));
    }

    #[test]
    fn positions_are_reported() {
        let e = parse("<a>\n  <b x='1' x='2'/>\n</a>").unwrap_err();
        assert!(matches!(e.kind, XmlErrorKind::DuplicateAttribute(_)));
        let p = e.position.unwrap();
        assert_eq!((p.line, p.column), (2, 3));
    }

    #[test]
    fn bad_bytes_and_chars_are_refused() {
        let e = Document::parse(b"<a>\xff</a>", &Limits::default()).unwrap_err();
        assert_eq!(e.kind, XmlErrorKind::NotUtf8);
        let e = parse("<a>\u{1}</a>").unwrap_err();
        assert_eq!(e.kind, XmlErrorKind::InvalidChar(1));
        let e = parse("<a>&#0;</a>").unwrap_err();
        assert_eq!(e.kind, XmlErrorKind::InvalidChar(0));
    }

    #[test]
    fn namespace_errors() {
        assert!(matches!(
            parse("<p:a/>").unwrap_err().kind,
            XmlErrorKind::UnboundPrefix(_)
        ));
        assert!(matches!(
            parse(r#"<a xmlns:p=""/>"#).unwrap_err().kind,
            XmlErrorKind::BadNamespaceDeclaration(_)
        ));
        assert!(matches!(
            parse(r#"<a xmlns:p="urn:x" xmlns:q="urn:x" p:b="1" q:b="2"/>"#)
                .unwrap_err()
                .kind,
            XmlErrorKind::DuplicateAttribute(_)
        ));
    }

    #[test]
    fn names_must_be_ncnames() {
        for bad in [
            "<a//>",
            "<a\"/>",
            "<a=/>",
            "<1/>",
            "<a:/>",
            "<:a/>",
            "<a:b:c/>",
            "<a 1b='x'/>",
            "<a p:='x'/>",
        ] {
            assert!(
                matches!(parse(bad).unwrap_err().kind, XmlErrorKind::Malformed(_)),
                "{bad}"
            );
        }
        for good in [
            "<a/>",
            "<_a.b-c/>",
            "<văn_bản/>",
            "<p:a xmlns:p='urn:x' p:b='1'/>",
        ] {
            assert!(parse(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn forbidden_characters_are_found_in_every_chunk() {
        for at in [0, 63, 64, 65, 127, 200] {
            let mut s = format!("<a>{}</a>", "x".repeat(300)).into_bytes();
            s[at + 3] = 0x01;
            let e = Document::parse(&s, &Limits::default()).unwrap_err();
            assert_eq!(e.kind, XmlErrorKind::InvalidChar(1), "at {at}");
            assert_eq!(e.position.unwrap().offset, at + 3);
        }
        // U+FFFF split across a chunk boundary.
        let mut s = format!("<a>{}</a>", "x".repeat(300)).into_bytes();
        s[62..65].copy_from_slice(&[0xEF, 0xBF, 0xBF]);
        assert_eq!(
            Document::parse(&s, &Limits::default()).unwrap_err().kind,
            XmlErrorKind::InvalidChar(0xFFFF)
        );
    }

    #[test]
    fn structure_errors() {
        assert!(matches!(
            parse("<a></b>").unwrap_err().kind,
            XmlErrorKind::Malformed(_)
        ));
        assert!(matches!(
            parse("<a>").unwrap_err().kind,
            XmlErrorKind::Malformed(_)
        ));
        assert!(matches!(
            parse("<a/><b/>").unwrap_err().kind,
            XmlErrorKind::ContentOutsideRoot(_)
        ));
        assert!(matches!(
            parse("x<a/>").unwrap_err().kind,
            XmlErrorKind::ContentOutsideRoot(_)
        ));
        assert_eq!(parse("  ").unwrap_err().kind, XmlErrorKind::NoRootElement);
        assert!(matches!(
            parse(r#"<?xml version="1.0" encoding="ISO-8859-1"?><a/>"#)
                .unwrap_err()
                .kind,
            XmlErrorKind::UnsupportedEncoding(_)
        ));
    }

    #[test]
    fn short_equality_agrees_with_slices() {
        let s = b"edXML:OrganizationInCharge-and-some-more-bytes";
        for i in 0..s.len() {
            for j in i..=s.len() {
                let a = &s[i..j];
                let copy = a.to_vec();
                assert!(eq_short(a, &copy));
                for k in 0..a.len() {
                    let mut b = a.to_vec();
                    b[k] ^= 1;
                    assert!(!eq_short(a, &b), "{i} {j} {k}");
                }
                if j < s.len() {
                    assert!(!eq_short(a, &s[i..j + 1]));
                }
            }
        }
    }

    #[test]
    fn names_and_text_borrow_from_input() {
        let src = "<a xmlns='urn:x'><b>plain text</b></a>";
        let d = parse(src).unwrap();
        let b = d.root.elements().next().unwrap();
        assert!(matches!(b.text(), Cow::Borrowed(_)));
        assert!(matches!(d.root.ns, Some(Cow::Borrowed(_))));
        assert_eq!(b.offset, src.find("<b>").unwrap());
        assert_eq!(b.end_offset, src.find("</b>"));
    }
}
