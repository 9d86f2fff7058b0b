//! The shape of the crate, checked: `telemetry-core` depends on no transport
//! or OpenTelemetry crate (so its public API cannot expose their types), and
//! its modules import one another without a cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Crates whose types must not appear in `telemetry-core`'s API: the core
/// does not depend on them at all (the exporters, `telemetry-http` and the
/// examples do). A crate the core does not depend on cannot leak into its
/// API; the core's own dependencies (serde, blake3, papaya, crossbeam,
/// inventory, tracing, sysinfo) re-export none of them.
const FORBIDDEN: &[&str] = &[
    "tokio",
    "prost",
    "http",
    "hyper",
    "tonic",
    "tower",
    "axum",
    "ureq",
    "reqwest",
    "opentelemetry",
    "opentelemetry_sdk",
    "opentelemetry-sdk",
    "opentelemetry-proto",
    "opentelemetry-otlp",
    "opentelemetry-http",
];

#[test]
fn the_core_depends_on_no_transport_or_opentelemetry_crate() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let output = std::process::Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--manifest-path",
        ])
        .arg(&manifest)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let core = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "telemetry-core")
        .unwrap();
    let normal: Vec<&str> = core["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["kind"].is_null() || d["kind"] == "build")
        .filter_map(|d| d["name"].as_str())
        .collect();
    assert!(
        normal.contains(&"blake3"),
        "the check reads the dependencies: {normal:?}"
    );
    let leaked: Vec<&&str> = normal.iter().filter(|d| FORBIDDEN.contains(d)).collect();
    assert!(
        leaked.is_empty(),
        "telemetry-core must not depend on {leaked:?}: put that code in telemetry-exporters, \
         telemetry-http or another crate, so the core's API names none of their types"
    );
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a source file (`crate::consent::gate`).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    if parts == ["lib"] {
        return "crate".to_owned();
    }
    format!("crate::{}", parts.join("::"))
}

/// The `crate::a::b` paths a file names (its unit tests left out).
fn named_paths(text: &str) -> Vec<String> {
    let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or(text);
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        let path: String = after
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == ':')
            .collect();
        out.push(format!("crate::{}", path.trim_end_matches(':')));
        rest = after;
    }
    out
}

#[test]
fn modules_import_one_another_without_a_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(&src, f)).collect();
    assert!(modules.contains("crate::consent::gate"), "{modules:?}");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let from = module_of(&src, file);
        let text = std::fs::read_to_string(file).unwrap();
        let deps = graph.entry(from.clone()).or_default();
        for path in named_paths(&text) {
            // The longest prefix that is a module file.
            let mut parts: Vec<&str> = path.split("::").collect();
            while !parts.is_empty() && !modules.contains(&parts.join("::")) {
                parts.pop();
            }
            let to = parts.join("::");
            if !to.is_empty() && to != "crate" && to != from {
                deps.insert(to);
            }
        }
    }
    // Depth-first search for a back edge.
    fn visit(
        m: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(m.to_owned(), 1);
        stack.push(m.to_owned());
        for next in graph.get(m).into_iter().flatten() {
            match state.get(next.as_str()) {
                Some(1) => {
                    let start = stack.iter().position(|s| s == next).unwrap_or(0);
                    let mut cycle = stack[start..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(next, graph, state, stack) {
                        return Some(c);
                    }
                }
            }
        }
        stack.pop();
        state.insert(m.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for m in graph.keys() {
        if !state.contains_key(m.as_str())
            && let Some(cycle) = visit(m, &graph, &mut state, &mut Vec::new())
        {
            panic!(
                "modules import one another in a cycle: {}; move the shared piece down a layer \
                 (see docs/architecture.md)",
                cycle.join(" -> ")
            );
        }
    }
}

/// The names `pub use` statements put at the crate root of `lib.rs`
/// (inline modules' own re-exports left out).
fn root_names(lib: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut depth = 0usize;
    let mut statement = String::new();
    for line in lib.lines() {
        let code = line.split("//").next().unwrap_or_default();
        if depth == 0 && (code.starts_with("pub use ") || !statement.is_empty()) {
            statement.push_str(code);
            if code.contains(';') {
                let body = statement
                    .trim_start_matches("pub use ")
                    .trim_end_matches(';')
                    .to_owned();
                let list = match body.split_once('{') {
                    Some((_, rest)) => rest.trim_end_matches('}').to_owned(),
                    None => body.rsplit("::").next().unwrap_or_default().to_owned(),
                };
                for name in list.split(',') {
                    let name = name.trim();
                    if !name.is_empty() {
                        names.insert(name.to_owned());
                    }
                }
                statement.clear();
            }
        }
        depth += code.matches('{').count();
        depth = depth.saturating_sub(code.matches('}').count());
    }
    names
}

/// The root is what an instrumenting user needs, one path per item: a
/// new name there is a decision (add it here), not an accident.
#[test]
fn the_crate_root_holds_the_instrumenting_users_names() {
    let lib =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    let names = root_names(&lib);
    let expected: BTreeSet<String> = [
        "Category",
        "CategorySet",
        "ConfigError",
        "ConfigErrorKind",
        "ConsentError",
        "ConsentPolicy",
        "Context",
        "Counter",
        "DropCause",
        "DropCounts",
        "Environment",
        "EventBuilder",
        "FieldClass",
        "FieldType",
        "FloatCounter",
        "FutureExt",
        "Gauge",
        "Histogram",
        "KeyId",
        "Limits",
        "Sampler",
        "Seq",
        "Severity",
        "ShutdownReport",
        "Span",
        "SpanKind",
        "SubjectId",
        "Telemetry",
        "TelemetryBuilder",
        "TelemetryEvent",
        "TelemetryStats",
        "TelemetryValue",
        "UpDownCounter",
        "Value",
        "instrument_event",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(names, expected);
}
