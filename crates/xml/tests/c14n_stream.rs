//! Differential property test: the streaming canonicalizer
//! (`c14n::canonical_bytes`, used by the signer) and the tree one
//! (`canonicalize_document` over `Document::parse`, used by the verifier)
//! give the same bytes for every input, and refuse the same inputs with the
//! same error. Inputs mix namespaces (declared, redeclared, undeclared,
//! unbound), attributes (sorted by namespace, `xml:` ones, duplicates),
//! text with every escaped character, references, CDATA, comments and PIs.

use docaxis_xml::c14n::{canonical_bytes, canonicalize_document, canonicalize_element};
use docaxis_xml::{Document, Limits};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Item {
    Text(String),
    Ref(&'static str),
    CData(String),
    Comment,
    Pi(String),
    Element(El),
}

#[derive(Debug, Clone)]
struct El {
    prefix: Option<&'static str>,
    local: &'static str,
    decls: Vec<(Option<&'static str>, &'static str)>,
    attrs: Vec<(Option<&'static str>, &'static str, String)>,
    children: Vec<Item>,
}

fn text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("a"),
            Just("ắ"),
            Just(" "),
            Just("\n"),
            Just("\r\n"),
            Just("\r"),
            Just("\t"),
            Just(">"),
            Just("\""),
            Just("'"),
            Just("QUJD"),
        ],
        0..12,
    )
    .prop_map(|v| v.concat())
}

fn prefix() -> impl Strategy<Value = Option<&'static str>> {
    prop_oneof![Just(None), Just(Some("p")), Just(Some("q"))]
}

fn element(depth: u32) -> BoxedStrategy<El> {
    let decl = (
        prop_oneof![Just(None), Just(Some("p")), Just(Some("q"))],
        prop_oneof![Just("urn:a"), Just("urn:b"), Just("")],
    );
    let attr = (
        prop_oneof![
            Just(None),
            Just(Some("p")),
            Just(Some("q")),
            Just(Some("xml"))
        ],
        prop_oneof![Just("k"), Just("l"), Just("lang")],
        text(),
    );
    let leaf = prop_oneof![
        text().prop_map(Item::Text),
        prop_oneof![
            Just("amp"),
            Just("lt"),
            Just("gt"),
            Just("quot"),
            Just("#13"),
            Just("#x1EA1")
        ]
        .prop_map(Item::Ref),
        text().prop_map(Item::CData),
        Just(Item::Comment),
        text().prop_map(|t| Item::Pi(t.replace(['\r', '?', '>'], ""))),
    ];
    let children: BoxedStrategy<Vec<Item>> = if depth == 0 {
        proptest::collection::vec(leaf, 0..4).boxed()
    } else {
        proptest::collection::vec(
            prop_oneof![3 => leaf, 2 => element(depth - 1).prop_map(Item::Element)],
            0..5,
        )
        .boxed()
    };
    (
        prefix(),
        prop_oneof![Just("x"), Just("y")],
        proptest::collection::vec(decl, 0..3),
        proptest::collection::vec(attr, 0..3),
        children,
    )
        .prop_map(|(prefix, local, mut decls, mut attrs, children)| {
            // Mostly well-formed: a prefix cannot be undeclared, and one
            // declaration or attribute per name (some inputs still clash
            // through two prefixes bound to one namespace, on purpose).
            decls.retain(|(p, uri)| p.is_none() || !uri.is_empty());
            decls.sort();
            decls.dedup_by_key(|d| d.0);
            attrs.sort();
            attrs.dedup_by_key(|a| (a.0, a.1));
            El {
                prefix,
                local,
                decls,
                attrs,
                children,
            }
        })
        .boxed()
}

fn escape(s: &str, attr: bool) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' if attr => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

fn write(e: &El, out: &mut String) {
    let qname = |p: Option<&str>, l: &str| match p {
        Some(p) => format!("{p}:{l}"),
        None => l.to_owned(),
    };
    out.push('<');
    out.push_str(&qname(e.prefix, e.local));
    for (p, uri) in &e.decls {
        match p {
            Some(p) => out.push_str(&format!(" xmlns:{p}=\"{uri}\"")),
            None => out.push_str(&format!(" xmlns=\"{uri}\"")),
        }
    }
    for (p, l, v) in &e.attrs {
        out.push_str(&format!(" {}=\"{}\"", qname(*p, l), escape(v, true)));
    }
    if e.children.is_empty() {
        out.push_str("/>");
        return;
    }
    out.push('>');
    for c in &e.children {
        match c {
            Item::Text(t) => out.push_str(&escape(t, false)),
            Item::Ref(r) => out.push_str(&format!("&{r};")),
            Item::CData(t) => out.push_str(&format!("<![CDATA[{t}]]>")),
            Item::Comment => out.push_str("<!-- c -->"),
            Item::Pi(t) => out.push_str(&format!("<?pi {t}?>")),
            Item::Element(e) => write(e, out),
        }
    }
    out.push_str("</");
    out.push_str(&qname(e.prefix, e.local));
    out.push('>');
}

fn document() -> impl Strategy<Value = String> {
    (any::<bool>(), any::<bool>(), element(3)).prop_map(|(decl, pis, mut root)| {
        // Both prefixes bound at the root (and rebound below at random), so
        // most documents resolve.
        for (p, uri) in [("p", "urn:p"), ("q", "urn:q")] {
            if !root.decls.iter().any(|d| d.0 == Some(p)) {
                root.decls.push((Some(p), uri));
            }
        }
        let mut s = String::new();
        if decl {
            s.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        }
        if pis {
            s.push_str("<?before data?>\n<!-- c -->\n");
        }
        write(&root, &mut s);
        if pis {
            s.push_str("\n<?after?>\n");
        }
        s
    })
}

fn check(input: &[u8]) {
    let limits = Limits::default();
    let tree = Document::parse(input, &limits).map(|d| {
        let mut out = Vec::new();
        canonicalize_document(&d, None, &mut out).expect("Vec");
        // The whole document's root as a document subset: the same bytes
        // when no PI surrounds the root, but written without looking at
        // the source (both paths above take pieces from it).
        if d.prolog.is_empty() && d.epilog.is_empty() {
            let mut rebuilt = Vec::new();
            canonicalize_element(&d.root, &mut rebuilt).expect("Vec");
            assert_eq!(
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(&rebuilt),
                "input: {}",
                String::from_utf8_lossy(input)
            );
        }
        out
    });
    let stream = canonical_bytes(input, &limits);
    match (&tree, &stream) {
        (Ok(a), Ok(b)) => assert_eq!(
            String::from_utf8_lossy(a),
            String::from_utf8_lossy(b),
            "input: {}",
            String::from_utf8_lossy(input)
        ),
        (Err(a), Err(b)) => assert_eq!(a, b),
        _ => panic!(
            "one path refused: tree {tree:?}, stream {stream:?}, input {}",
            String::from_utf8_lossy(input)
        ),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn streaming_and_tree_canonical_forms_are_identical(doc in document()) {
        check(doc.as_bytes());
    }
}

/// Inputs the generator does not make: refusals and edge shapes.
#[test]
fn refusals_and_edges_agree() {
    for input in [
        "",
        "  ",
        "<a/>",
        "<a/><b/>",
        "x<a/>",
        "<a>",
        "<a></b>",
        "<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>",
        "<a>&x;</a>",
        "<p:a/>",
        "<a xmlns:p=\"\"/>",
        "<a>\u{1}</a>",
        "<a/>\n<?pi?>\n<!-- c -->\n",
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a/>",
        "<a xmlns=\"urn:x\"><b xmlns=\"\"><c xmlns=\"urn:x\"/></b></a>",
        "<a>]]></a>",
    ] {
        check(input.as_bytes());
    }
}

/// Every committed fuzz seed (edXML documents signed and unsigned, status
/// messages, seed articles, namespace shapes, past crash reproducers):
/// the real documents the axis carries.
#[test]
fn fuzz_seed_documents_agree() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/corpus");
    let mut checked = 0;
    for target in ["c14n", "parse", "verify", "roundtrip"] {
        let Ok(dir) = std::fs::read_dir(format!("{root}/{target}")) else {
            continue;
        };
        for entry in dir {
            let bytes = std::fs::read(entry.expect("dir entry").path()).expect("readable seed");
            check(&bytes);
            checked += 1;
        }
    }
    assert!(
        checked >= 10,
        "only {checked} seed documents found under {root}"
    );
}
