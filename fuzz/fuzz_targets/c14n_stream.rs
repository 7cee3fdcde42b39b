//! Differential: the streaming canonicalizer (`c14n::canonical_bytes`,
//! which the signer uses) against the tree one (`canonicalize_document`
//! over `Document::parse`, which the verifier uses). On every input both
//! refuse with the same error or both give the same bytes; and signing the
//! input never panics.
#![no_main]

use std::sync::OnceLock;

use docaxis_dsig::Signer;
use docaxis_fuzz::{Fixture, G22};
use docaxis_xml::{c14n, Document, Limits};
use libfuzzer_sys::fuzz_target;

fn signer() -> &'static Signer {
    static SIGNER: OnceLock<Signer> = OnceLock::new();
    SIGNER.get_or_init(|| Fixture::new().signer(G22))
}

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let tree = Document::parse(data, &limits).map(|doc| {
        let mut out = Vec::new();
        c14n::canonicalize_document(&doc, None, &mut out).expect("Vec write");
        out
    });
    let stream = c14n::canonical_bytes(data, &limits);
    match (&tree, &stream) {
        (Ok(a), Ok(b)) => assert_eq!(
            String::from_utf8_lossy(a),
            String::from_utf8_lossy(b),
            "streaming and tree canonical forms differ"
        ),
        (Err(a), Err(b)) => assert_eq!(a, b, "the two paths refuse differently"),
        _ => panic!("only one path refused: tree {tree:?}, stream {stream:?}"),
    }
    let _ = signer().sign(data, &limits);
});
