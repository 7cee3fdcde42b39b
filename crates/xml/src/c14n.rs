//! Exclusive XML Canonicalization 1.0, without comments
//! (<http://www.w3.org/2001/10/xml-exc-c14n#>).
//!
//! Canonicalization turns every XML text that means the same into the same
//! bytes, so a signature survives attribute reordering, quote style, empty
//! element form and namespace declarations moved around. The rules applied
//! here (W3C C14N 1.0 §2 and Exclusive C14N §3):
//!
//! - no XML declaration, no DOCTYPE, no comments; white space outside the
//!   root element dropped; processing instructions kept, separated from the
//!   root element by a line feed;
//! - every element written as a start and an end tag;
//! - namespace declarations first, sorted by prefix (the default namespace
//!   first), then attributes sorted by namespace name, then local name;
//! - a namespace declaration is written on an element only if the element
//!   *visibly utilizes* it (its own prefix, or an attribute's prefix) and the
//!   nearest output ancestor did not already write the same binding — this
//!   is what makes the exclusive form independent of the context a subtree
//!   is embedded in;
//! - text escapes `&`, `<`, `>` and CR; attribute values escape `&`, `<`,
//!   `"`, TAB, LF and CR; attribute values are always in double quotes.
//!
//! The parser ([`crate::Document`]) has already resolved references,
//! normalized line ends and attribute values, and unwrapped CDATA sections,
//! as the canonical form requires.
//!
//! Output is streamed to any [`Write`]; signing and verifying pass a hasher,
//! so the canonical form of a large document is never held in memory.
//!
//! Two walks drive the one writer: over a parsed tree
//! ([`canonicalize_document`], [`canonicalize_element`]; the verifier needs
//! the tree anyway, and the enveloped-signature transform), and while
//! parsing, with no tree ([`CanonicalSink`]; the signer). A differential
//! test and a fuzz target hold them byte-identical.

use std::borrow::Cow;
use std::io::{self, Write};

use crate::dom::{
    eq_short, parse_into, Attribute, Document, Element, Node, ProcessingInstruction, Sink,
};
use crate::error::XmlError;
use crate::limits::Limits;

/// The algorithm identifier, as written in XML-DSig.
pub const ALGORITHM: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";

/// Canonicalizes the whole document, leaving out the subtree of `exclude`
/// (compared by identity) if given.
///
/// Leaving out one element is the enveloped-signature transform: the
/// `Signature` element is removed and everything else, white space around
/// it included, is kept.
pub fn canonicalize_document<'x, W: Write>(
    doc: &Document<'x>,
    exclude: Option<&Element<'x>>,
    out: W,
) -> io::Result<()> {
    let mut w = Canonicalizer::new(out);
    w.set_source(doc.source());
    for pi in &doc.prolog {
        w.pi(pi)?;
        w.newline()?;
    }
    w.subtree(&doc.root, exclude)?;
    for pi in &doc.epilog {
        w.newline()?;
        w.pi(pi)?;
    }
    w.finish().map(drop)
}

/// Canonicalizes the subtree rooted at `apex` as a document subset, e.g. an
/// XML-DSig `SignedInfo` element.
///
/// Because the exclusive form writes on the apex every namespace it visibly
/// utilizes, the result does not depend on where the subtree sits.
pub fn canonicalize_element<W: Write>(apex: &Element<'_>, out: W) -> io::Result<()> {
    let mut w = Canonicalizer::new(out);
    w.subtree(apex, None)?;
    w.finish().map(drop)
}

/// The canonical form of the document in `input`, read under `limits`, by
/// the streaming path ([`CanonicalSink`]): the same bytes as
/// [`canonicalize_document`] over [`Document::parse`], without a tree.
pub fn canonical_bytes(input: &[u8], limits: &Limits) -> Result<Vec<u8>, XmlError> {
    let mut out = Vec::with_capacity(input.len());
    let mut sink = CanonicalSink::new(&mut out);
    parse_into(input, limits, &mut sink)?;
    sink.finish().expect("writing to a Vec cannot fail");
    Ok(out)
}

/// A [`Sink`] that writes the canonical form of the whole document while
/// the parser reads it, so a document can be digested with no tree built:
/// this is how the signer digests a document.
///
/// It shares every rule with [`canonicalize_document`] (both drive the same
/// writer); only the walk differs. It has no enveloped-signature transform:
/// the signer digests documents that have no signature yet.
pub struct CanonicalSink<'x, W: Write> {
    w: Canonicalizer<'x, W>,
    /// Open elements: qualified name and the rendered-namespace mark.
    open: Vec<(Option<&'x str>, &'x str, usize)>,
    root_done: bool,
    /// The first write error; later output is dropped.
    error: Option<io::Error>,
}

impl<'x, W: Write> CanonicalSink<'x, W> {
    /// A sink writing to `out`.
    pub fn new(out: W) -> Self {
        CanonicalSink {
            w: Canonicalizer::new(out),
            open: Vec::with_capacity(16),
            root_done: false,
            error: None,
        }
    }

    /// Hands on the rest of the output and gives the writer back; the
    /// first write error, if any. Call it only after [`parse_into`]
    /// succeeded.
    pub fn finish(self) -> io::Result<W> {
        match self.error {
            Some(e) => Err(e),
            None => self.w.finish(),
        }
    }

    /// [`Sink::start`] for a sink that forwards to this one and keeps the
    /// element: passing it on by value copied it (152 bytes) per element.
    #[inline]
    pub fn start_element(&mut self, element: &Element<'x>) {
        let r = self.w.start_tag(element).map(|mark| {
            self.open.push((element.prefix, element.local, mark));
        });
        self.check(r);
    }

    fn check(&mut self, r: io::Result<()>) {
        if let Err(e) = r {
            self.error.get_or_insert(e);
        }
    }
}

impl<'x, W: Write> Sink<'x> for CanonicalSink<'x, W> {
    fn source(&mut self, input: &'x [u8]) {
        self.w.set_source(input);
    }

    #[inline]
    fn start(&mut self, element: Element<'x>) {
        self.start_element(&element);
    }

    #[inline]
    fn end(&mut self, end_offset: Option<usize>) {
        if let Some((prefix, local, mark)) = self.open.pop() {
            let r = self.w.end_tag(prefix, local, mark, end_offset);
            self.check(r);
        }
        self.root_done = self.open.is_empty();
    }

    #[inline]
    fn text(&mut self, text: Cow<'x, str>) {
        if self.error.is_none() {
            let r = self.w.text(&text);
            self.check(r);
        }
    }

    fn pi(&mut self, pi: ProcessingInstruction<'x>) {
        // Outside the root, a line feed separates a PI from the root
        // element: after it before the root, before it after the root.
        let outside = self.open.is_empty();
        let root_done = self.root_done;
        let r = (|| {
            if outside && root_done {
                self.w.newline()?;
            }
            self.w.pi(&pi)?;
            if outside && !root_done {
                self.w.newline()?;
            }
            Ok(())
        })();
        self.check(r);
    }
}

/// Output is gathered into a buffer of this size before it is handed on, so
/// that a hasher sees large writes rather than one per attribute.
const FLUSH_AT: usize = 64 * 1024;

/// The buffer's first capacity.
const INITIAL_BUFFER: usize = 4 * 1024;

/// A run of the source no longer than this is copied into the buffer; a
/// longer one is handed on as it is (after the buffer), so a large text,
/// such as an attachment, is never copied.
const COPY_RUN_UP_TO: usize = 1024;

/// The canonical writer: start and end tags, text and PIs, with the
/// namespace bookkeeping of the exclusive form. Both walks (over a tree and
/// while parsing) drive it.
///
/// When it knows the source the document was parsed from, it does not
/// rebuild what the source already holds in canonical form: a start tag
/// `<name>` that renders no namespace, an end tag `</name>`, and text
/// that needs no escaping are, byte for byte, their own canonical form
/// (most of a document written by a canonical-minded serializer, such as
/// edXML's). Such pieces are only checked, and consecutive ones are
/// gathered into one run of the source, written in one piece. A piece is
/// taken from the source only when its bytes there are exactly the bytes
/// that would be written, so the output is the same either way.
struct Canonicalizer<'x, W: Write> {
    out: W,
    buf: Vec<u8>,
    /// Namespace bindings written by output ancestors, innermost last.
    /// The default namespace is the empty prefix; the context starts with it
    /// bound to the empty namespace, so `xmlns=""` is only ever written to
    /// undo a non-empty default written above.
    rendered: Vec<(&'x str, Cow<'x, str>)>,
    /// The parsed bytes, when known; empty otherwise.
    source: &'x [u8],
    /// The source holds a carriage return (canonical text escapes it).
    source_has_cr: bool,
    /// The run of `source` that comes next in the output, after `buf`
    /// (empty when `run_start == run_end`).
    run_start: usize,
    run_end: usize,
}

/// One element being written, for the explicit walk.
struct Frame<'e, 'x> {
    element: &'e Element<'x>,
    next_child: usize,
    rendered_mark: usize,
}

impl<'x, W: Write> Canonicalizer<'x, W> {
    fn new(out: W) -> Self {
        Canonicalizer {
            out,
            // Grown on demand: with runs of the source handed on as they
            // are, a small document's buffer holds a few tags, and a 64 KB
            // allocation per document costs more than growing.
            buf: Vec::with_capacity(INITIAL_BUFFER),
            rendered: vec![("", Cow::Borrowed(""))],
            source: &[],
            source_has_cr: false,
            run_start: 0,
            run_end: 0,
        }
    }

    /// Lets the writer take pieces already in canonical form from `source`.
    fn set_source(&mut self, source: &'x [u8]) {
        self.source = source;
        self.source_has_cr = memchr::memchr(b'\r', source).is_some();
    }

    fn finish(mut self) -> io::Result<W> {
        self.flush_run()?;
        self.out.write_all(&self.buf)?;
        self.out.flush()?;
        Ok(self.out)
    }

    /// Appends `source[start..end]`, which the caller checked is exactly the
    /// next canonical output, to the pending run (or starts a new one).
    #[inline]
    fn run(&mut self, start: usize, end: usize) -> io::Result<()> {
        if start != self.run_end || self.run_start == self.run_end {
            self.flush_run()?;
            self.run_start = start;
        }
        self.run_end = end;
        Ok(())
    }

    /// Writes the pending run, before anything else is written. A long
    /// run goes to the output directly, in pieces of at most [`FLUSH_AT`].
    #[inline]
    fn flush_run(&mut self) -> io::Result<()> {
        if self.run_start == self.run_end {
            return Ok(());
        }
        let run = &self.source[self.run_start..self.run_end];
        self.run_start = self.run_end;
        if run.len() <= COPY_RUN_UP_TO {
            self.buf.extend_from_slice(run);
            return self.maybe_flush();
        }
        if !self.buf.is_empty() {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        for piece in run.chunks(FLUSH_AT) {
            self.out.write_all(piece)?;
        }
        Ok(())
    }

    /// The line feed between the root element and a PI outside it.
    fn newline(&mut self) -> io::Result<()> {
        self.flush_run()?;
        self.buf.push(b'\n');
        Ok(())
    }

    /// Where `source` holds the qualified name `prefix:local` at `at`, the
    /// offset just after it.
    #[inline]
    fn name_in_source(&self, at: usize, prefix: Option<&str>, local: &str) -> Option<usize> {
        let mut at = at;
        if let Some(p) = prefix {
            let end = at + p.len();
            if !same_bytes(self.source.get(at..end)?, p.as_bytes())
                || self.source.get(end) != Some(&b':')
            {
                return None;
            }
            at = end + 1;
        }
        let end = at + local.len();
        same_bytes(self.source.get(at..end)?, local.as_bytes()).then_some(end)
    }

    /// The offset of the source text `t`, if `t` is a slice of the source
    /// and is its own canonical form (nothing to escape).
    #[inline]
    fn text_in_source(&self, t: &str) -> Option<usize> {
        let at = (t.as_ptr() as usize).checked_sub(self.source.as_ptr() as usize)?;
        if at.checked_add(t.len())? > self.source.len() {
            return None;
        }
        let bytes = t.as_bytes();
        let clean = if bytes.len() < 32 {
            // Mostly the white space between tags: a table lookup per byte
            // costs less than setting up a search.
            !bytes.iter().any(|&b| TEXT_SPECIAL[usize::from(b)])
        } else {
            memchr::memchr3(b'&', b'<', b'>', bytes).is_none()
                && !(self.source_has_cr && memchr::memchr(b'\r', bytes).is_some())
        };
        clean.then_some(at)
    }

    fn maybe_flush(&mut self) -> io::Result<()> {
        if self.buf.len() >= FLUSH_AT {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Walks the subtree with an explicit stack (no recursion), so even a
    /// tree built under generous limits cannot overflow the thread's stack.
    fn subtree<'e>(
        &mut self,
        root: &'e Element<'x>,
        exclude: Option<&Element<'x>>,
    ) -> io::Result<()> {
        let mut stack: Vec<Frame<'e, 'x>> = Vec::new();
        let mark = self.start_tag(root)?;
        stack.push(Frame {
            element: root,
            next_child: 0,
            rendered_mark: mark,
        });
        while let Some(frame) = stack.last_mut() {
            let Some(child) = frame.element.children.get(frame.next_child) else {
                let done = stack.pop().expect("stack is not empty");
                let e = done.element;
                self.end_tag(e.prefix, e.local, done.rendered_mark, e.end_offset)?;
                continue;
            };
            frame.next_child += 1;
            match child {
                Node::Text(t) => self.text(t)?,
                Node::Pi(pi) => self.pi(pi)?,
                Node::Element(e) => {
                    if exclude.is_some_and(|x| std::ptr::eq(x, e)) {
                        continue;
                    }
                    let mark = self.start_tag(e)?;
                    stack.push(Frame {
                        element: e,
                        next_child: 0,
                        rendered_mark: mark,
                    });
                }
            }
        }
        Ok(())
    }

    /// Escapes text into the buffer a piece at a time, flushing between
    /// pieces, so a 14 MB attachment never sits in the buffer whole.
    fn text(&mut self, t: &str) -> io::Result<()> {
        if let Some(at) = self.text_in_source(t) {
            return self.run(at, at + t.len());
        }
        self.flush_run()?;
        // Nearly every text is one piece.
        if t.len() <= FLUSH_AT {
            escape_text(&mut self.buf, t);
            return self.maybe_flush();
        }
        let mut rest = t;
        while !rest.is_empty() {
            let mut cut = rest.len().min(FLUSH_AT);
            while !rest.is_char_boundary(cut) {
                cut -= 1;
            }
            escape_text(&mut self.buf, &rest[..cut]);
            rest = &rest[cut..];
            self.maybe_flush()?;
        }
        Ok(())
    }

    fn pi(&mut self, pi: &ProcessingInstruction<'_>) -> io::Result<()> {
        self.flush_run()?;
        self.buf.extend_from_slice(b"<?");
        self.buf.extend_from_slice(pi.target.as_bytes());
        if !pi.data.is_empty() {
            self.buf.push(b' ');
            self.buf.extend_from_slice(pi.data.as_bytes());
        }
        self.buf.extend_from_slice(b"?>");
        self.maybe_flush()
    }

    /// Writes the start tag and records the namespace bindings it renders;
    /// returns the mark to restore at the end tag.
    fn start_tag(&mut self, e: &Element<'x>) -> io::Result<usize> {
        let mark = self.rendered.len();
        let own = e.prefix.unwrap_or("");

        // Most elements have no attribute, and their namespace is the one
        // the nearest output ancestor rendered for their prefix: they
        // render nothing, which is checked without the gathering below.
        if e.attrs.is_empty() {
            let uri = e.ns.as_deref().unwrap_or("");
            let rendered_above = own == "xml"
                || self
                    .rendered
                    .iter()
                    .rev()
                    .find(|(p, _)| same(p, own))
                    .is_some_and(|(_, u)| same(u, uri));
            if rendered_above {
                return self.plain_start_tag(e).map(|()| mark);
            }
        }

        // Namespaces this element visibly utilizes: its own prefix (or the
        // default namespace) and the prefixes of its attributes. The `xml`
        // prefix is bound by definition and never declared. They are
        // gathered at the end of `rendered` (no allocation per element),
        // then those an output ancestor already rendered identically are
        // dropped.
        if own != "xml" {
            let uri = e.ns.clone().unwrap_or(Cow::Borrowed(""));
            self.rendered.push((own, uri));
        }
        for a in &e.attrs {
            if let Some(p) = a.prefix {
                if p != "xml" && !self.rendered[mark..].iter().any(|(q, _)| *q == p) {
                    let uri = a.ns.clone().unwrap_or(Cow::Borrowed(""));
                    self.rendered.push((p, uri));
                }
            }
        }
        let mut i = mark;
        while i < self.rendered.len() {
            let (prefix, uri) = &self.rendered[i];
            let above = self.rendered[..mark]
                .iter()
                .rev()
                .find(|(p, _)| same(p, prefix))
                .map(|(_, u)| u);
            if above.is_some_and(|u| same(u, uri)) {
                // The order is restored by the sort below.
                self.rendered.swap_remove(i);
            } else {
                i += 1;
            }
        }
        self.rendered[mark..].sort_unstable_by(|a, b| a.0.cmp(b.0));
        if self.rendered.len() == mark && e.attrs.is_empty() {
            return self.plain_start_tag(e).map(|()| mark);
        }

        self.flush_run()?;
        self.buf.push(b'<');
        write_qname(&mut self.buf, e.prefix, e.local);
        for (prefix, uri) in &self.rendered[mark..] {
            if prefix.is_empty() {
                self.buf.extend_from_slice(b" xmlns=\"");
            } else {
                self.buf.extend_from_slice(b" xmlns:");
                self.buf.extend_from_slice(prefix.as_bytes());
                self.buf.extend_from_slice(b"=\"");
            }
            escape_attr(&mut self.buf, uri);
            self.buf.push(b'"');
        }

        match e.attrs.as_slice() {
            [] => {}
            [a] => write_attr(&mut self.buf, a),
            many => {
                let mut attrs: Vec<_> = many.iter().collect();
                attrs.sort_unstable_by(|a, b| {
                    (a.ns.as_deref().unwrap_or(""), a.local)
                        .cmp(&(b.ns.as_deref().unwrap_or(""), b.local))
                });
                for a in attrs {
                    write_attr(&mut self.buf, a);
                }
            }
        }
        self.buf.push(b'>');
        self.maybe_flush()?;
        Ok(mark)
    }

    /// The start tag `<name>` of an element without attributes that
    /// renders no namespace: taken from the source when it is written so
    /// there, which makes it its own canonical form.
    #[inline]
    fn plain_start_tag(&mut self, e: &Element<'_>) -> io::Result<()> {
        if let Some(end) = self.name_in_source(e.offset + 1, e.prefix, e.local) {
            if self.source.get(e.offset) == Some(&b'<') && self.source.get(end) == Some(&b'>') {
                return self.run(e.offset, end + 1);
            }
        }
        self.flush_run()?;
        self.buf.push(b'<');
        write_qname(&mut self.buf, e.prefix, e.local);
        self.buf.push(b'>');
        self.maybe_flush()
    }

    /// Writes the end tag (at `end_offset` in the source; `None` for an
    /// empty-element tag) and forgets the bindings its start tag rendered.
    fn end_tag(
        &mut self,
        prefix: Option<&str>,
        local: &str,
        mark: usize,
        end_offset: Option<usize>,
    ) -> io::Result<()> {
        self.rendered.truncate(mark);
        // `</name>` in the source is its own canonical form.
        if let Some(at) = end_offset {
            if self.source.get(at..at + 2) == Some(b"</") {
                if let Some(end) = self.name_in_source(at + 2, prefix, local) {
                    if self.source.get(end) == Some(&b'>') {
                        return self.run(at, end + 1);
                    }
                }
            }
        }
        self.flush_run()?;
        self.buf.extend_from_slice(b"</");
        write_qname(&mut self.buf, prefix, local);
        self.buf.push(b'>');
        self.maybe_flush()
    }
}

/// Byte equality, trying identity first (a name compared with itself in the
/// source, as start tags are).
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    (a.as_ptr() == b.as_ptr() && a.len() == b.len()) || eq_short(a, b)
}

/// String equality, trying identity first: names and namespace URIs of a
/// parsed document are mostly slices of the same declaration in the input,
/// so this usually answers without comparing bytes.
fn same(a: &str, b: &str) -> bool {
    same_bytes(a.as_bytes(), b.as_bytes())
}

fn write_attr(buf: &mut Vec<u8>, a: &Attribute<'_>) {
    buf.push(b' ');
    write_qname(buf, a.prefix, a.local);
    buf.extend_from_slice(b"=\"");
    escape_attr(buf, &a.value);
    buf.push(b'"');
}

fn write_qname(buf: &mut Vec<u8>, prefix: Option<&str>, local: &str) {
    if let Some(p) = prefix {
        buf.extend_from_slice(p.as_bytes());
        buf.push(b':');
    }
    buf.extend_from_slice(local.as_bytes());
}

/// Copies `s` into `buf`, replacing every byte of the sets `a` and `b` by
/// `escape(byte)`.
///
/// Canonical text is mostly long runs that need no escaping (prose, and
/// megabytes of base64), so the next special byte of each set is found
/// with a vectorized search and clean runs are copied whole. Each set keeps
/// its own next position, so each byte is searched at most once per set
/// (no rescanning, whatever the input).
#[inline]
fn escape_with(
    buf: &mut Vec<u8>,
    s: &str,
    a: [u8; 3],
    b: [u8; 3],
    special: &[bool; 256],
    escape: fn(u8) -> &'static [u8],
) {
    let bytes = s.as_bytes();
    buf.reserve(bytes.len());
    // Short text (white space between tags, most field values): a plain
    // loop costs less than setting up two searches.
    if bytes.len() < 32 {
        let mut start = 0;
        for (i, &c) in bytes.iter().enumerate() {
            // One table lookup per byte (six comparisons cost about twice
            // as much, `contains` a call per set and byte).
            if special[usize::from(c)] {
                buf.extend_from_slice(&bytes[start..i]);
                buf.extend_from_slice(escape(c));
                start = i + 1;
            }
        }
        buf.extend_from_slice(&bytes[start..]);
        return;
    }
    let find = |set: [u8; 3], from: usize| {
        let rest = &bytes[from..];
        // A set of one byte (text's CR) is a single search, about twice as
        // fast as a three-byte one.
        let found = if set[0] == set[1] && set[1] == set[2] {
            memchr::memchr(set[0], rest)
        } else {
            memchr::memchr3(set[0], set[1], set[2], rest)
        };
        found.map_or(bytes.len(), |i| from + i)
    };
    let mut next_a = find(a, 0);
    let mut next_b = find(b, 0);
    let mut start = 0;
    loop {
        let at = next_a.min(next_b);
        if at == bytes.len() {
            break;
        }
        buf.extend_from_slice(&bytes[start..at]);
        buf.extend_from_slice(escape(bytes[at]));
        start = at + 1;
        if next_a == at {
            next_a = find(a, start);
        }
        if next_b == at {
            next_b = find(b, start);
        }
    }
    buf.extend_from_slice(&bytes[start..]);
}

/// The bytes of `a` and `b`, as a table for [`escape_with`]'s short loop.
const fn special_bytes(a: [u8; 3], b: [u8; 3]) -> [bool; 256] {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 3 {
        table[a[i] as usize] = true;
        table[b[i] as usize] = true;
        i += 1;
    }
    table
}

const TEXT_A: [u8; 3] = [b'&', b'<', b'>'];
const TEXT_B: [u8; 3] = [b'\r'; 3];
static TEXT_SPECIAL: [bool; 256] = special_bytes(TEXT_A, TEXT_B);
const ATTR_A: [u8; 3] = [b'&', b'<', b'"'];
const ATTR_B: [u8; 3] = [b'\t', b'\n', b'\r'];
static ATTR_SPECIAL: [bool; 256] = special_bytes(ATTR_A, ATTR_B);

fn escape_text(buf: &mut Vec<u8>, s: &str) {
    escape_with(buf, s, TEXT_A, TEXT_B, &TEXT_SPECIAL, |b| match b {
        b'&' => b"&amp;",
        b'<' => b"&lt;",
        b'>' => b"&gt;",
        _ => b"&#xD;",
    });
}

fn escape_attr(buf: &mut Vec<u8>, s: &str) {
    escape_with(buf, s, ATTR_A, ATTR_B, &ATTR_SPECIAL, |b| match b {
        b'&' => b"&amp;",
        b'<' => b"&lt;",
        b'"' => b"&quot;",
        b'\t' => b"&#x9;",
        b'\n' => b"&#xA;",
        _ => b"&#xD;",
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Limits;

    /// The canonical form by the tree walk, checked against the streaming
    /// walk: every vector below is also a differential test.
    fn c14n(s: &str) -> String {
        let d = Document::parse(s.as_bytes(), &Limits::default()).unwrap();
        let mut out = Vec::new();
        canonicalize_document(&d, None, &mut out).unwrap();
        let streamed = canonical_bytes(s.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&streamed),
            String::from_utf8_lossy(&out),
            "streaming and tree canonical forms differ"
        );
        // Without PIs around the root, the root as a subset is the same
        // bytes, written without taking pieces from the source.
        if d.prolog.is_empty() && d.epilog.is_empty() {
            let mut rebuilt = Vec::new();
            canonicalize_element(&d.root, &mut rebuilt).unwrap();
            assert_eq!(
                String::from_utf8_lossy(&rebuilt),
                String::from_utf8_lossy(&out)
            );
        }
        String::from_utf8(out).unwrap()
    }

    fn c14n_first_child(s: &str) -> String {
        let d = Document::parse(s.as_bytes(), &Limits::default()).unwrap();
        let mut out = Vec::new();
        canonicalize_element(d.root.elements().next().unwrap(), &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    // W3C XML-C14N 1.0 §3.1 (PIs, comments, outside of document element);
    // the exclusive form gives the same result here.
    #[test]
    fn w3c_3_1_pis_and_comments() {
        let input = "<?xml version=\"1.0\"?>\n\n<?xml-stylesheet   href=\"doc.xsl\"\n   type=\"text/xsl\"   ?>\n\n<doc>Hello, world!<!-- Comment 1 --></doc>\n\n<?pi-without-data     ?>\n\n<!-- Comment 2 -->\n\n<!-- Comment 3 -->";
        let expected = "<?xml-stylesheet href=\"doc.xsl\"\n   type=\"text/xsl\"   ?>\n<doc>Hello, world!</doc>\n<?pi-without-data?>";
        assert_eq!(c14n(input), expected);
    }

    // W3C XML-C14N 1.0 §3.2 (whitespace in document content).
    #[test]
    fn w3c_3_2_whitespace() {
        let input = "<doc>\n   <clean>   </clean>\n   <dirty>   A   B   </dirty>\n   <mixed>\n      A\n      <clean>   </clean>\n      B\n      <dirty>   A   B   </dirty>\n      C\n   </mixed>\n</doc>";
        assert_eq!(c14n(input), input);
    }

    // W3C XML-C14N 1.0 §3.3 (start and end tags), in its exclusive form:
    // unused declarations disappear and used ones move to where they are
    // used (attribute values from the DTD are not applicable: no DTD).
    #[test]
    fn w3c_3_3_start_and_end_tags_exclusive() {
        let input = r#"<doc>
   <e1   />
   <e2   ></e2>
   <e3   name = "elem3"   id="elem3"   />
   <e4   name="elem4"   id="elem4"   ></e4>
   <e5 a:attr="out" b:attr="sorted" attr2="all" attr="I'm"
      xmlns:b="http://www.ietf.org"
      xmlns:a="http://www.w3.org"
      xmlns="http://example.org"/>
   <e6 xmlns="" xmlns:a="http://www.w3.org">
      <e7 xmlns="http://www.ietf.org">
         <e8 xmlns="" xmlns:a="http://www.w3.org">
            <e9 xmlns="" xmlns:a="http://www.ietf.org"/>
         </e8>
      </e7>
   </e6>
</doc>"#;
        let expected = r#"<doc>
   <e1></e1>
   <e2></e2>
   <e3 id="elem3" name="elem3"></e3>
   <e4 id="elem4" name="elem4"></e4>
   <e5 xmlns="http://example.org" xmlns:a="http://www.w3.org" xmlns:b="http://www.ietf.org" attr="I'm" attr2="all" b:attr="sorted" a:attr="out"></e5>
   <e6>
      <e7 xmlns="http://www.ietf.org">
         <e8 xmlns="">
            <e9></e9>
         </e8>
      </e7>
   </e6>
</doc>"#;
        assert_eq!(c14n(input), expected);
    }

    // W3C XML-C14N 1.0 §3.4 (character modifications and references),
    // without the DTD-typed attributes.
    #[test]
    fn w3c_3_4_character_modifications() {
        let input = "<doc>\n   <text>First line&#x0d;&#10;Second line</text>\n   <value>&#x32;</value>\n   <compute><![CDATA[value>\"0\" && value<\"10\" ?\"valid\":\"error\"]]></compute>\n   <compute expr='value>\"0\" &amp;&amp; value&lt;\"10\" ?\"valid\":\"error\"'>valid</compute>\n   <norm attr=' &apos;   &#x20;&#13;&#xa;&#9;   &apos; '/>\n</doc>";
        let expected = "<doc>\n   <text>First line&#xD;\nSecond line</text>\n   <value>2</value>\n   <compute>value&gt;\"0\" &amp;&amp; value&lt;\"10\" ?\"valid\":\"error\"</compute>\n   <compute expr=\"value>&quot;0&quot; &amp;&amp; value&lt;&quot;10&quot; ?&quot;valid&quot;:&quot;error&quot;\">valid</compute>\n   <norm attr=\" '    &#xD;&#xA;&#x9;   ' \"></norm>\n</doc>";
        assert_eq!(c14n(input), expected);
    }

    // W3C XML-C14N 1.0 §3.7 in spirit / Exclusive C14N §2.2: the same
    // subtree gives the same bytes whatever its context declares.
    #[test]
    fn exclusive_subset_ignores_unused_context() {
        let a = r#"<n0:pdu xmlns:n0="http://a.example"><n1:elem1 xmlns:n1="http://b.example">content</n1:elem1></n0:pdu>"#;
        let b = r#"<n2:pdu xmlns:n1="http://b.example" xmlns:n2="http://foo.example" xmlns:n3="http://c"><n1:elem1>content</n1:elem1></n2:pdu>"#;
        let expected = r#"<n1:elem1 xmlns:n1="http://b.example">content</n1:elem1>"#;
        assert_eq!(c14n_first_child(a), expected);
        assert_eq!(c14n_first_child(b), expected);
    }

    #[test]
    fn default_namespace_is_declared_on_the_apex_and_undone_when_needed() {
        let s = r#"<r xmlns="urn:r"><s><t xmlns=""/></s></r>"#;
        assert_eq!(
            c14n_first_child(s),
            r#"<s xmlns="urn:r"><t xmlns=""></t></s>"#
        );
        // No spurious xmlns="" when nothing above declared a default.
        assert_eq!(c14n(r#"<a xmlns=""><b/></a>"#), "<a><b></b></a>");
    }

    #[test]
    fn equivalent_forms_canonicalize_identically() {
        let forms = [
            r#"<e:a xmlns:e="urn:e" y='2' x="1"><e:b/></e:a>"#,
            r#"<e:a x="1" y="2" xmlns:e="urn:e"><e:b xmlns:e="urn:e"></e:b></e:a>"#,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<e:a xmlns:e=\"urn:e\" xmlns:unused=\"urn:u\"   x=\"1\"\ty=\"2\"><e:b/><!-- note --></e:a>\n",
        ];
        let expected = r#"<e:a xmlns:e="urn:e" x="1" y="2"><e:b></e:b></e:a>"#;
        for f in forms {
            assert_eq!(c14n(f), expected, "{f}");
        }
    }

    #[test]
    fn excluded_element_leaves_surrounding_text() {
        let s = "<a> <b>1</b> <sig>x</sig> </a>";
        let d = Document::parse(s.as_bytes(), &Limits::default()).unwrap();
        let sig = d.root.elements().nth(1).unwrap();
        let mut out = Vec::new();
        canonicalize_document(&d, Some(sig), &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "<a> <b>1</b>  </a>");
    }

    /// The block scan must find a special byte wherever it falls: at
    /// either end of a 32-byte block, in a short tail, next to another.
    #[test]
    fn escaping_finds_special_bytes_at_every_offset() {
        fn naive(s: &str, attr: bool) -> String {
            let mut out = String::new();
            for c in s.chars() {
                match (c, attr) {
                    ('&', _) => out.push_str("&amp;"),
                    ('<', _) => out.push_str("&lt;"),
                    ('>', false) => out.push_str("&gt;"),
                    ('"', true) => out.push_str("&quot;"),
                    ('\t', true) => out.push_str("&#x9;"),
                    ('\n', true) => out.push_str("&#xA;"),
                    ('\r', _) => out.push_str("&#xD;"),
                    (c, _) => out.push(c),
                }
            }
            out
        }
        for len in [0, 1, 31, 32, 33, 64, 70] {
            for at in 0..len {
                for special in ['&', '<', '>', '"', '\t', '\n', '\r'] {
                    let mut s: Vec<char> = "ắx".chars().cycle().take(len).collect();
                    s[at] = special;
                    if at + 1 < len {
                        s[at + 1] = '&';
                    }
                    let s: String = s.into_iter().collect();
                    let mut text = Vec::new();
                    escape_text(&mut text, &s);
                    assert_eq!(String::from_utf8(text).unwrap(), naive(&s, false));
                    let mut attr = Vec::new();
                    escape_attr(&mut attr, &s);
                    assert_eq!(String::from_utf8(attr).unwrap(), naive(&s, true));
                }
            }
        }
    }

    #[test]
    fn large_text_is_streamed_in_chunks() {
        struct Count(usize, usize);
        impl Write for Count {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                self.0 += b.len();
                self.1 = self.1.max(b.len());
                Ok(b.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let body: String = "<c>".to_owned() + &"QUJD".repeat(100_000) + "</c>";
        let s = format!("<a>{}</a>", body.repeat(10));
        let d = Document::parse(s.as_bytes(), &Limits::default()).unwrap();
        let mut count = Count(0, 0);
        canonicalize_document(&d, None, &mut count).unwrap();
        assert_eq!(count.0, s.len());
        assert!(
            count.1 < 2 * FLUSH_AT + 400_000,
            "largest write {}",
            count.1
        );
    }
}
