//! Exclusive C14N on arbitrary XML: never panics, and is idempotent: the
//! canonical form parses, and canonicalizing it again gives the same bytes.
//! Every element subtree canonicalizes too (the SignedInfo path).
#![no_main]

use docaxis_xml::{c14n, Document, Element, Limits};
use libfuzzer_sys::fuzz_target;

fn walk<'a>(e: &Element<'a>, budget: &mut usize) {
    if *budget == 0 {
        return;
    }
    *budget -= 1;
    let mut out = Vec::new();
    c14n::canonicalize_element(e, &mut out).expect("Vec write");
    // An element's exclusive canonical form is a well-formed document.
    let doc = Document::parse(&out, &Limits::default()).unwrap_or_else(|err| {
        panic!(
            "canonical subtree does not parse: {err}\n{}",
            String::from_utf8_lossy(&out)
        )
    });
    let mut again = Vec::new();
    c14n::canonicalize_element(&doc.root, &mut again).expect("Vec write");
    assert_eq!(
        String::from_utf8_lossy(&out),
        String::from_utf8_lossy(&again),
        "subtree c14n is not idempotent"
    );
    for c in e.elements() {
        walk(c, budget);
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = Document::parse(data, &Limits::default()) else {
        return;
    };
    let mut first = Vec::new();
    c14n::canonicalize_document(&doc, None, &mut first).expect("Vec write");
    let reparsed = Document::parse(&first, &Limits::default()).unwrap_or_else(|err| {
        panic!(
            "canonical form does not parse: {err}\n{}",
            String::from_utf8_lossy(&first)
        )
    });
    let mut second = Vec::new();
    c14n::canonicalize_document(&reparsed, None, &mut second).expect("Vec write");
    assert_eq!(
        String::from_utf8_lossy(&first),
        String::from_utf8_lossy(&second),
        "c14n is not idempotent"
    );
    // Leaving out a subtree (the enveloped-signature transform) must work
    // for any element, the root's first child included.
    if let Some(child) = doc.root.elements().next() {
        let mut out = Vec::new();
        c14n::canonicalize_document(&doc, Some(child), &mut out).expect("Vec write");
    }
    let mut budget = 16;
    walk(&doc.root, &mut budget);
});
