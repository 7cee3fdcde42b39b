//! The OpenAPI file documents exactly the routes served, and the example
//! configuration in deploy/ parses to what it says.

use std::path::Path;

use docaxis_tracker::{http, Config, Thresholds};

fn repo(p: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(p)).unwrap()
}

#[test]
fn openapi_lists_every_route_and_no_other() {
    let yaml = repo("docs/tracker-api.yaml");
    let documented: Vec<&str> = yaml
        .lines()
        .filter(|l| l.starts_with("  /") && l.trim_end().ends_with(':'))
        .map(|l| l.trim().trim_end_matches(':'))
        .collect();
    let mut a = documented.clone();
    a.sort();
    let mut b = http::PATHS.to_vec();
    b.sort();
    assert_eq!(a, b);
    // Each route of the router is in PATHS (the router source names them).
    let src = include_str!("../src/http.rs");
    for p in http::PATHS {
        assert!(src.contains(&format!(".route(\"{p}\"")), "{p} routed");
    }
}

#[test]
fn the_example_configuration() {
    let c = Config::from_toml(&repo("deploy/tracker.example.toml"), |_| None).unwrap();
    assert_eq!(c.axis.as_deref(), Some("file:///var/lib/docaxis/axis"));
    assert_eq!(c.db, Path::new("/var/lib/docaxis/tracker.db"));
    assert_eq!(c.listen.to_string(), "127.0.0.1:8470");
    assert!(c.durable);
    assert_eq!((c.batch_size, c.batch_wait_ms), (1000, 50));
    assert_eq!(c.thresholds, Thresholds::default());
    // Environment overrides win.
    let c = Config::from_toml(&repo("deploy/tracker.example.toml"), |k| match k {
        "DOCAXIS_TRACKER_OVERDUE_EXPRESS" => Some("5m".into()),
        "DOCAXIS_TRACKER_DB" => Some("/tmp/x.db".into()),
        _ => None,
    })
    .unwrap();
    assert_eq!(c.thresholds.0[3], 300);
    assert_eq!(c.db, Path::new("/tmp/x.db"));
}
