//! Signature verification of arbitrary bytes against the test fixture's
//! agency directory: never panics; nothing random verifies.
#![no_main]

use std::sync::OnceLock;

use docaxis_dsig::verify;
use docaxis_edxml::ParseLimits;
use docaxis_fuzz::{now, Fixture};
use libfuzzer_sys::fuzz_target;

fn fixture() -> &'static Fixture {
    static FX: OnceLock<Fixture> = OnceLock::new();
    FX.get_or_init(Fixture::new)
}

fuzz_target!(|data: &[u8]| {
    if let Err(e) = verify(data, &fixture().directory, now(), &ParseLimits::default()) {
        let _ = e.to_string();
    }
});
