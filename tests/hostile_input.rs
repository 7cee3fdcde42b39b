//! The hostile-input table (`docaxis_suites::hostile`): malformed,
//! oversized and forged messages, each with the refusal it must get from
//! the verifier. Every case runs under `catch_unwind`, so a panic is a
//! failure of its own, and the table is printed for the record.

use std::panic::{catch_unwind, AssertUnwindSafe};

use docaxis_dsig::verify;
use docaxis_suites::hostile::cases;
use docaxis_suites::*;

#[test]
fn every_hostile_input_is_refused_with_its_reason() {
    let fx = Fixture::new();
    let cases = cases();
    assert!(
        cases.len() >= 50,
        "the table must hold at least 50 cases, has {}",
        cases.len()
    );
    let mut failures = Vec::new();
    println!("| # | case | refused with |\n|---|---|---|");
    for (i, c) in cases.iter().enumerate() {
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            verify(&c.input, &fx.directory, now(), &c.limits)
        }));
        let result = match outcome {
            Ok(r) => r,
            Err(_) => {
                failures.push(format!("{}: PANICKED", c.name));
                continue;
            }
        };
        let err = match result {
            Ok(_) => {
                failures.push(format!("{}: ACCEPTED", c.name));
                continue;
            }
            Err(e) => e,
        };
        let matched = c.matches(&err);
        let reason = err.to_string().replace('\n', " ");
        let short: String = reason.chars().take(150).collect();
        println!("| {} | {} | {} |", i + 1, c.name, short);
        if !matched {
            failures.push(format!(
                "{}: refused, but for the wrong reason: {reason}",
                c.name
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
