//! edXML parsing and validation on arbitrary bytes: must never panic,
//! whatever arrives; whatever parses must validate and serialize.
#![no_main]

use docaxis_edxml::{parse, serialize, validate, NoDirectory, ParseLimits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(parsed) = parse(data, &ParseLimits::default()) {
        let mut errors = validate(&parsed.message, &NoDirectory);
        parsed.source_map.locate(data, &mut errors);
        for e in &errors {
            let _ = e.to_string();
        }
        let _ = serialize(&parsed.message);
    }
});
