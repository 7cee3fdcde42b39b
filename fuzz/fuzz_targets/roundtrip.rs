//! The serializer's promise: parse(serialize(m)) == m for every message the
//! parser accepts.
#![no_main]

use docaxis_edxml::{parse, serialize, ParseLimits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(parsed) = parse(data, &ParseLimits::default()) {
        let bytes = serialize(&parsed.message);
        let again = parse(&bytes, &ParseLimits::default()).unwrap_or_else(|e| {
            panic!(
                "serialized output does not parse: {e}\n{}",
                String::from_utf8_lossy(&bytes)
            )
        });
        assert_eq!(
            again.message, parsed.message,
            "round trip changed the message"
        );
    }
});
