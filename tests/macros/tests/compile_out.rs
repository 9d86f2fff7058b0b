//! The compile-out feature: a library depending on telemetry-core with
//! `default-features = false, features = ["macros"]` gets every
//! `#[instrument_event]` function exactly as written (no callsite, no
//! catalogue entry, nothing recorded). The fixture in `compile-out/` is
//! built and tested as a crate of its own, with its own target directory,
//! because inside this workspace the other members turn `instrument` on.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;
use std::process::Command;

#[test]
fn a_library_without_the_instrument_feature_compiles_its_instrumentation_out() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fixture = root.join("compile-out");
    // The workspace's lock file pins the same versions (cargo drops what
    // the fixture does not use).
    std::fs::copy(root.join("../../Cargo.lock"), fixture.join("Cargo.lock")).unwrap();
    let target = root.join("../../target/compile-out");
    let out = Command::new(env!("CARGO"))
        .args(["test", "--quiet", "--manifest-path"])
        .arg(fixture.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(fixture.join("Cargo.lock"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("1 passed"), "{text}");
}
