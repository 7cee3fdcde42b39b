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

use std::io::{self, Write};

use crate::dom::{Document, Element, Node, ProcessingInstruction};

/// The algorithm identifier, as written in XML-DSig.
pub const ALGORITHM: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";

/// Canonicalizes the whole document, leaving out the subtree of `exclude`
/// (compared by identity) if given.
///
/// Leaving out one element is the enveloped-signature transform: the
/// `Signature` element is removed and everything else, white space around
/// it included, is kept.
pub fn canonicalize_document<W: Write>(
    doc: &Document<'_>,
    exclude: Option<&Element<'_>>,
    out: W,
) -> io::Result<()> {
    let mut w = Canonicalizer::new(out, exclude);
    for pi in &doc.prolog {
        w.pi(pi);
        w.buf.push(b'\n');
    }
    w.subtree(&doc.root)?;
    for pi in &doc.epilog {
        w.buf.push(b'\n');
        w.pi(pi);
    }
    w.finish()
}

/// Canonicalizes the subtree rooted at `apex` as a document subset, e.g. an
/// XML-DSig `SignedInfo` element.
///
/// Because the exclusive form writes on the apex every namespace it visibly
/// utilizes, the result does not depend on where the subtree sits.
pub fn canonicalize_element<W: Write>(apex: &Element<'_>, out: W) -> io::Result<()> {
    let mut w = Canonicalizer::new(out, None);
    w.subtree(apex)?;
    w.finish()
}

/// Output is gathered into a buffer of this size before it is handed on, so
/// that a hasher sees large writes rather than one per attribute.
const FLUSH_AT: usize = 64 * 1024;

struct Canonicalizer<'e, 'x, W: Write> {
    out: W,
    buf: Vec<u8>,
    exclude: Option<&'e Element<'x>>,
    /// Namespace bindings written by output ancestors, innermost last.
    /// The default namespace is the empty prefix; the context starts with it
    /// bound to the empty namespace, so `xmlns=""` is only ever written to
    /// undo a non-empty default written above.
    rendered: Vec<(&'e str, &'e str)>,
}

/// One element being written, for the explicit walk.
struct Frame<'e, 'x> {
    element: &'e Element<'x>,
    next_child: usize,
    rendered_mark: usize,
}

impl<'e, 'x, W: Write> Canonicalizer<'e, 'x, W> {
    fn new(out: W, exclude: Option<&'e Element<'x>>) -> Self {
        Canonicalizer {
            out,
            buf: Vec::with_capacity(FLUSH_AT + 1024),
            exclude,
            rendered: vec![("", "")],
        }
    }

    fn finish(mut self) -> io::Result<()> {
        self.out.write_all(&self.buf)?;
        self.out.flush()
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
    fn subtree(&mut self, root: &'e Element<'x>) -> io::Result<()> {
        let mut stack: Vec<Frame<'e, 'x>> = Vec::new();
        let mark = self.start_tag(root);
        stack.push(Frame {
            element: root,
            next_child: 0,
            rendered_mark: mark,
        });
        while let Some(frame) = stack.last_mut() {
            let Some(child) = frame.element.children.get(frame.next_child) else {
                let done = stack.pop().expect("stack is not empty");
                self.end_tag(done.element);
                self.rendered.truncate(done.rendered_mark);
                continue;
            };
            frame.next_child += 1;
            match child {
                Node::Text(t) => self.text(t)?,
                Node::Pi(pi) => self.pi(pi),
                Node::Element(e) => {
                    if self.exclude.is_some_and(|x| std::ptr::eq(x, e)) {
                        continue;
                    }
                    let mark = self.start_tag(e);
                    stack.push(Frame {
                        element: e,
                        next_child: 0,
                        rendered_mark: mark,
                    });
                }
            }
            self.maybe_flush()?;
        }
        Ok(())
    }

    /// Escapes text into the buffer a piece at a time, flushing between
    /// pieces, so a 14 MB attachment never sits in the buffer whole.
    fn text(&mut self, t: &str) -> io::Result<()> {
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

    fn pi(&mut self, pi: &ProcessingInstruction<'_>) {
        self.buf.extend_from_slice(b"<?");
        self.buf.extend_from_slice(pi.target.as_bytes());
        if !pi.data.is_empty() {
            self.buf.push(b' ');
            self.buf.extend_from_slice(pi.data.as_bytes());
        }
        self.buf.extend_from_slice(b"?>");
    }

    fn lookup(&self, prefix: &str) -> Option<&'e str> {
        self.rendered
            .iter()
            .rev()
            .find(|(p, _)| *p == prefix)
            .map(|(_, uri)| *uri)
    }

    /// Writes the start tag and records the namespace bindings it renders;
    /// returns the mark to restore at the end tag.
    fn start_tag(&mut self, e: &'e Element<'x>) -> usize {
        let mark = self.rendered.len();

        // Namespaces this element visibly utilizes: its own prefix (or the
        // default namespace) and the prefixes of its attributes. The `xml`
        // prefix is bound by definition and never declared.
        let mut needed: Vec<(&'e str, &'e str)> = Vec::with_capacity(1 + e.attrs.len());
        let own = e.prefix.unwrap_or("");
        if own != "xml" {
            needed.push((own, e.ns.as_deref().unwrap_or("")));
        }
        for a in &e.attrs {
            if let Some(p) = a.prefix {
                if p != "xml" && !needed.iter().any(|(q, _)| *q == p) {
                    needed.push((p, a.ns.as_deref().unwrap_or("")));
                }
            }
        }
        needed.retain(|(p, uri)| self.lookup(p) != Some(uri));
        needed.sort_unstable_by(|a, b| a.0.cmp(b.0));

        self.buf.push(b'<');
        write_qname(&mut self.buf, e.prefix, e.local);
        for (prefix, uri) in &needed {
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
        self.rendered.extend(needed);

        if !e.attrs.is_empty() {
            let mut attrs: Vec<_> = e.attrs.iter().collect();
            attrs.sort_unstable_by(|a, b| {
                (a.ns.as_deref().unwrap_or(""), a.local)
                    .cmp(&(b.ns.as_deref().unwrap_or(""), b.local))
            });
            for a in attrs {
                self.buf.push(b' ');
                write_qname(&mut self.buf, a.prefix, a.local);
                self.buf.extend_from_slice(b"=\"");
                escape_attr(&mut self.buf, &a.value);
                self.buf.push(b'"');
            }
        }
        self.buf.push(b'>');
        mark
    }

    fn end_tag(&mut self, e: &Element<'_>) {
        self.buf.extend_from_slice(b"</");
        write_qname(&mut self.buf, e.prefix, e.local);
        self.buf.push(b'>');
    }
}

fn write_qname(buf: &mut Vec<u8>, prefix: Option<&str>, local: &str) {
    if let Some(p) = prefix {
        buf.extend_from_slice(p.as_bytes());
        buf.push(b':');
    }
    buf.extend_from_slice(local.as_bytes());
}

/// Copies `s` into `buf`, replacing the bytes `escape` maps; runs of plain
/// bytes are copied at once, which matters for megabytes of base64. Generic
/// (not a function pointer) so that the byte test is inlined.
#[inline]
fn escape_with(buf: &mut Vec<u8>, s: &str, escape: impl Fn(u8) -> Option<&'static [u8]>) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if let Some(rep) = escape(b) {
            buf.extend_from_slice(&bytes[start..i]);
            buf.extend_from_slice(rep);
            start = i + 1;
        }
    }
    buf.extend_from_slice(&bytes[start..]);
}

fn escape_text(buf: &mut Vec<u8>, s: &str) {
    escape_with(buf, s, |b| match b {
        b'&' => Some(b"&amp;"),
        b'<' => Some(b"&lt;"),
        b'>' => Some(b"&gt;"),
        b'\r' => Some(b"&#xD;"),
        _ => None,
    });
}

fn escape_attr(buf: &mut Vec<u8>, s: &str) {
    escape_with(buf, s, |b| match b {
        b'&' => Some(b"&amp;"),
        b'<' => Some(b"&lt;"),
        b'"' => Some(b"&quot;"),
        b'\t' => Some(b"&#x9;"),
        b'\n' => Some(b"&#xA;"),
        b'\r' => Some(b"&#xD;"),
        _ => None,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Limits;

    fn c14n(s: &str) -> String {
        let d = Document::parse(s.as_bytes(), &Limits::default()).unwrap();
        let mut out = Vec::new();
        canonicalize_document(&d, None, &mut out).unwrap();
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
