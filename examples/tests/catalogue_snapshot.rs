//! The example service's catalogue is checked in (`examples/catalogue.md`):
//! this test fails when what the service can collect changes, so a new
//! field shows up in code review. Accept a change with
//! `UPDATE_CATALOGUE=1 cargo test -p examples --test catalogue_snapshot`.
#![allow(clippy::unwrap_used, missing_docs)]

// The service whose catalogue this is: naming it links its registrations in.
#[allow(unused_imports)]
use examples::checkout as _;

#[test]
fn catalogue_matches_the_checked_in_snapshot() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/catalogue.md");
    telemetry_core::catalogue::Catalogue::collect()
        .check_snapshot(path)
        .unwrap();
}

#[test]
fn a_changed_catalogue_is_reported_with_the_first_difference() {
    if std::env::var_os("UPDATE_CATALOGUE").is_some() {
        return; // accepting changes: this test's snapshot would be overwritten
    }
    let dir = std::env::temp_dir().join(format!("catalogue-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("snapshot.md");
    let current = telemetry_core::catalogue::Catalogue::collect().to_markdown();
    std::fs::write(
        &path,
        current.replace(
            "| `email` | string | hashed |",
            "| `email` | string | public |",
        ),
    )
    .unwrap();
    let err = telemetry_core::catalogue::Catalogue::collect()
        .check_snapshot(&path)
        .unwrap_err()
        .to_string();
    assert!(err.contains("the telemetry catalogue changed"), "{err}");
    assert!(err.contains("| `email` | string | hashed |"), "{err}");
    assert!(err.contains("UPDATE_CATALOGUE=1"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}
