//! The repository explains itself: every link in its Markdown files and
//! crate docs points to a file that exists in it, and none points outside.

use std::path::{Path, PathBuf};

/// Directories that hold no documentation of ours.
const SKIPPED: &[&str] = &[
    "target",
    ".git",
    "node_modules",
    "corpus",
    "regressions",
    "artifacts",
    "telemetry-out",
];

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if path.is_dir() {
            if !SKIPPED.contains(&name.as_ref()) && !name.starts_with('.') {
                files(&path, out);
            }
        } else if name.ends_with(".md") || name.ends_with(".rs") {
            out.push(path);
        }
    }
}

/// Whether a URL leaves this machine (a service the reader runs locally
/// on 127.0.0.1 or localhost does not).
fn outside(url: &str) -> bool {
    let Some(rest) = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
    else {
        return false;
    };
    !(rest.starts_with("127.0.0.1") || rest.starts_with("localhost"))
}

/// The targets of `[text](target)` links and `<url>` autolinks in `text`.
fn link_targets(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("](") {
        rest = &rest[i + 2..];
        if let Some(end) = rest.find(')') {
            out.push(rest[..end].trim().to_owned());
        }
    }
    for (i, _) in text.match_indices("<http") {
        if let Some(end) = text[i..].find('>') {
            out.push(text[i + 1..i + end].to_owned());
        }
    }
    out
}

#[test]
fn every_link_points_to_a_file_in_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut all = Vec::new();
    files(root, &mut all);
    let mut bad = Vec::new();
    let mut checked = 0;
    for file in &all {
        let text = std::fs::read_to_string(file).unwrap();
        let markdown = file.extension().is_some_and(|e| e == "md");
        // In Rust files, only doc comments hold links.
        let docs: String = if markdown {
            text.clone()
        } else {
            text.lines()
                .map(str::trim_start)
                .filter(|l| l.starts_with("//!") || l.starts_with("///"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        for target in link_targets(&docs) {
            let shown = file.strip_prefix(root).unwrap().display();
            if outside(&target) {
                bad.push(format!("{shown}: links outside the repository: {target}"));
                continue;
            }
            if target.starts_with("http") {
                continue;
            }
            // Only Markdown files link to files; rustdoc links name items.
            if !markdown || target.starts_with('#') || target.contains(' ') {
                continue;
            }
            let path = target.split('#').next().unwrap_or_default();
            if path.is_empty() {
                continue;
            }
            checked += 1;
            let resolved = file.parent().unwrap().join(path);
            if !resolved.exists() {
                bad.push(format!("{shown}: broken link: {target}"));
            }
        }
    }
    assert!(
        checked > 20,
        "only {checked} links found: is the walk broken?"
    );
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
