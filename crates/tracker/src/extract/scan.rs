//! The byte scanner behind [`super::extract_fast`]: cuts a message into
//! tags and text for the field reader, for the plain XML signed messages
//! are made of, and gives up (`None`) on anything else, leaving it to the
//! quick-xml reader.
//!
//! It reads what quick-xml reads, the same way, wherever it answers:
//!
//! * names are ASCII (`[A-Za-z_][A-Za-z0-9_.-]*`, one colon at most),
//!   followed by white space, `/>` or `>`; an end tag is exactly `</`,
//!   the start tag's name and `>`;
//! * attributes are `name="value"` or `name='value'` after white space,
//!   values without `<` or `&`; `xmlns` and `xmlns:p` declare namespaces
//!   (an empty value, the `xml` and `xmlns` prefixes and their namespaces,
//!   a prefix declared twice on one element: given up);
//! * text is cut at references as quick-xml cuts it, so each piece's line
//!   ends are normalized alike; a reference must end with `;`;
//! * comments are checked for `--` as quick-xml checks them; CDATA is
//!   `<![CDATA[` exactly;
//! * an XML declaration is one of [`DECLARATIONS`] and only at the start;
//!   a processing instruction, a DOCTYPE, a byte-order mark: given up.
//!
//! A tag name inside a comment, CDATA or an attribute value is never taken
//! for a tag: each is read to its own end first.

use std::borrow::Cow;

use memchr::{memchr, memchr2, memchr3, memmem};

use super::{Ns, Reading, MAX_DEPTH};

/// XML declarations the scanner knows (any other goes to quick-xml).
const DECLARATIONS: [&[u8]; 6] = [
    br#"<?xml version="1.0" encoding="UTF-8"?>"#,
    br#"<?xml version="1.0" encoding="utf-8"?>"#,
    br#"<?xml version="1.0"?>"#,
    b"<?xml version='1.0' encoding='UTF-8'?>",
    b"<?xml version='1.0' encoding='utf-8'?>",
    b"<?xml version='1.0'?>",
];

const XML_NS: &[u8] = b"http://www.w3.org/XML/1998/namespace";
const XMLNS_NS: &[u8] = b"http://www.w3.org/2000/xmlns/";

/// Namespace declarations in scope at once (more: given up).
const MAX_BINDINGS: usize = 16;

/// A namespace declaration in scope.
#[derive(Clone, Copy)]
struct Binding<'a> {
    /// Empty for the default namespace.
    prefix: &'a [u8],
    ns: Ns,
    /// Depth of the element that declared it (the root is 1).
    depth: usize,
}

/// Name bytes: 2 may start a name, 1 may follow.
const NAME: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = if c.is_ascii_alphabetic() || c == b'_' {
            2
        } else if c.is_ascii_digit() || c == b'.' || c == b'-' {
            1
        } else {
            0
        };
        b += 1;
    }
    t
};

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// The end of the name at `i` and the offset of its colon, if any.
fn name(x: &[u8], i: usize) -> Option<(usize, Option<usize>)> {
    if NAME[usize::from(*x.get(i)?)] != 2 {
        return None;
    }
    let mut j = i + 1;
    let mut colon = None;
    while let Some(&b) = x.get(j) {
        if NAME[usize::from(b)] != 0 {
            j += 1;
        } else if b == b':'
            && colon.is_none()
            && x.get(j + 1).is_some_and(|&c| NAME[usize::from(c)] == 2)
        {
            colon = Some(j);
            j += 2;
        } else {
            break;
        }
    }
    Some((j, colon))
}

/// Feed `x` to `reading`: the offset where reading stopped, or `None`.
pub(super) fn scan<'a>(x: &'a [u8], reading: &mut Reading<'a>) -> Option<usize> {
    let mut i = 0;
    if x.starts_with(b"<?") {
        let end = memmem::find(x, b"?>")? + 2;
        if !DECLARATIONS.contains(&&x[..end]) {
            return None;
        }
        i = end;
    }
    // The qualified names of the open elements.
    let mut open: [&[u8]; MAX_DEPTH] = [&[]; MAX_DEPTH];
    let mut depth: usize = 0;
    let mut bindings = [Binding {
        prefix: &[],
        ns: Ns::Unbound,
        depth: 0,
    }; MAX_BINDINGS];
    let mut bound = 0;
    loop {
        // Text up to the next tag or reference, in the pieces quick-xml
        // cuts it into.
        let lt = next_markup(x, i)?;
        if lt > i {
            reading.chars(Cow::Borrowed(&x[i..lt]), false).ok()?;
        }
        if x[lt] == b'&' {
            let name = lt + 1;
            let end = name + memchr3(b';', b'&', b'<', &x[name..])?;
            if x[end] != b';' {
                return None;
            }
            reading.reference(&x[name..end]).ok()?;
            i = end + 1;
            continue;
        }
        match *x.get(lt + 1)? {
            b'/' => {
                let name = open[depth.checked_sub(1)?];
                let after = lt + 2 + name.len();
                if x.get(lt + 2..after)? != name || x.get(after) != Some(&b'>') {
                    return None;
                }
                depth -= 1;
                while bound > 0 && bindings[bound - 1].depth > depth {
                    bound -= 1;
                }
                i = after + 1;
                if reading.end().ok()? {
                    return Some(i);
                }
                if depth == 0 {
                    // The root closed before the header was read.
                    return None;
                }
            }
            b'!' if x[lt..].starts_with(b"<!--") => {
                let body = lt + 4;
                let end = body + memmem::find(&x[body..], b"-->")?;
                let comment = &x[body..end];
                if memmem::find(comment, b"--").is_some() || comment.last() == Some(&b'-') {
                    return None;
                }
                i = end + 3;
            }
            b'!' if x[lt..].starts_with(b"<![CDATA[") => {
                let body = lt + 9;
                let end = body + memmem::find(&x[body..], b"]]>")?;
                reading.chars(Cow::Borrowed(&x[body..end]), true).ok()?;
                i = end + 3;
            }
            // A DOCTYPE, a processing instruction, anything else.
            b'!' | b'?' => return None,
            _ => {
                let start = lt + 1;
                let (name_end, colon) = name(x, start)?;
                let qname = &x[start..name_end];
                let level = depth + 1;
                let outer = bound;
                let mut k = name_end;
                let empty = loop {
                    match *x.get(k)? {
                        b'>' => {
                            k += 1;
                            break false;
                        }
                        b'/' if x.get(k + 1) == Some(&b'>') => {
                            k += 2;
                            break true;
                        }
                        b if is_space(b) => {}
                        _ => return None,
                    }
                    while is_space(*x.get(k)?) {
                        k += 1;
                    }
                    if matches!(x[k], b'>' | b'/') {
                        continue;
                    }
                    // An attribute.
                    let (attr_end, _) = name(x, k)?;
                    let attr = &x[k..attr_end];
                    let quote = *x.get(attr_end + 1)?;
                    if x[attr_end] != b'=' || (quote != b'"' && quote != b'\'') {
                        return None;
                    }
                    let v = attr_end + 2;
                    let value = &x[v..v + memchr(quote, &x[v..])?];
                    if memchr2(b'<', b'&', value).is_some() {
                        return None;
                    }
                    k = v + value.len() + 1;
                    let prefix = if attr == b"xmlns" {
                        &attr[..0]
                    } else if let Some(p) = attr.strip_prefix(b"xmlns:") {
                        p
                    } else {
                        continue;
                    };
                    if value.is_empty()
                        || matches!(prefix, b"xml" | b"xmlns")
                        || value == XML_NS
                        || value == XMLNS_NS
                        || bound == MAX_BINDINGS
                        || bindings[outer..bound].iter().any(|b| b.prefix == prefix)
                    {
                        return None;
                    }
                    bindings[bound] = Binding {
                        prefix,
                        ns: Ns::of(value),
                        depth: level,
                    };
                    bound += 1;
                };
                let (prefix, local) = match colon {
                    Some(c) => (&x[start..c], &x[c + 1..name_end]),
                    None => (&qname[..0], qname),
                };
                if matches!(prefix, b"xml" | b"xmlns") {
                    return None;
                }
                let ns = match bindings[..bound].iter().rev().find(|b| b.prefix == prefix) {
                    Some(b) => b.ns,
                    None if colon.is_none() => Ns::Unbound,
                    // Undeclared: quick-xml refuses it, with the reason.
                    None => return None,
                };
                reading.start(ns, qname, local, empty).ok()?;
                if empty {
                    bound = outer;
                } else {
                    open[depth] = qname;
                    depth = level;
                }
                i = k;
            }
        }
    }
}

/// The offset of the first `<` or `&` from `i`. Most text between tags
/// is a few bytes of indentation or a short value: a plain loop finds the
/// next tag there for a fraction of a vectorized search's set-up cost,
/// which is left for long text.
fn next_markup(x: &[u8], i: usize) -> Option<usize> {
    let near = x.len().min(i + 32);
    match x[i..near].iter().position(|&b| b == b'<' || b == b'&') {
        Some(p) => Some(i + p),
        None => memchr2(b'<', b'&', &x[near..]).map(|p| near + p),
    }
}
