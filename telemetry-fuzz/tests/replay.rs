//! Replays every corpus and regression file of `fuzz/` through the fuzz
//! target functions, on stable: what the fuzzer found stays fixed.
//!
//! A target's corpus folder must exist and hold files (a deleted corpus is
//! noticed); its regressions folder may be empty.

use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The files of `dir` (not `.gitkeep` or `README.md`), sorted; `None` if
/// the folder cannot be read.
fn files(dir: &Path) -> Option<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter(|p| {
            !matches!(
                p.file_name().and_then(|n| n.to_str()),
                Some(".gitkeep" | "README.md")
            )
        })
        .collect();
    out.sort();
    Some(out)
}

fn replay(target: &str) {
    let Some((_, run)) = telemetry_fuzz::TARGETS.iter().find(|(n, _)| *n == target) else {
        unreachable!("no target {target}");
    };
    let corpus = fuzz_dir().join("corpus").join(target);
    let corpus_files = files(&corpus).unwrap_or_default();
    assert!(
        !corpus_files.is_empty(),
        "the corpus {} is missing or empty; run `scripts/fuzz.sh 600 {target}` to rebuild it",
        corpus.display()
    );
    let regressions = fuzz_dir().join("regressions").join(target);
    let regression_files = files(&regressions);
    assert!(
        regression_files.is_some(),
        "{} is missing",
        regressions.display()
    );
    for path in corpus_files.iter().chain(regression_files.iter().flatten()) {
        let data = std::fs::read(path);
        assert!(data.is_ok(), "{}: {data:?}", path.display());
        eprintln!("{}", path.display());
        run(&data.unwrap_or_default());
    }
}

#[test]
fn every_target_has_a_test() {
    let names: Vec<&str> = telemetry_fuzz::TARGETS.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            "traceparent",
            "tracestate",
            "baggage",
            "otlp_json_line",
            "consent_file",
            "otel_env"
        ]
    );
    let targets = files(&fuzz_dir().join("fuzz_targets")).unwrap_or_default();
    let mut on_disk: Vec<String> = targets
        .iter()
        .filter_map(|p| p.file_stem()?.to_str().map(str::to_owned))
        .collect();
    on_disk.sort();
    let mut expected: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    expected.sort();
    assert_eq!(on_disk, expected, "fuzz/fuzz_targets/ and TARGETS differ");
}

#[test]
fn traceparent() {
    replay("traceparent");
}

#[test]
fn tracestate() {
    replay("tracestate");
}

#[test]
fn baggage() {
    replay("baggage");
}

#[test]
fn otlp_json_line() {
    replay("otlp_json_line");
}

#[test]
fn consent_file() {
    replay("consent_file");
}

#[test]
fn otel_env() {
    replay("otel_env");
}
