//! The file reader's edge cases: lines that name no request, lines that
//! are not UTF-8, and arbitrary input, which must never panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::OnceLock;
use std::time::Duration;

use proptest::prelude::*;
use telemetry_core::export::Signal;
use telemetry_core::*;
use telemetry_exporters::file::{ExportRequest, FileExporter, files, parse_line, read_lines};

/// A line that names no request (or two) is an error saying so, not an
/// empty request.
#[test]
fn a_line_naming_no_request_is_an_error() {
    for line in [
        "{}",
        " { } ",
        r#"{"resource":{}}"#,
        r#"{"resourceSpan":[]}"#,
    ] {
        let err = parse_line(line).expect_err(line).to_string();
        assert!(
            err.contains("resourceSpans")
                && err.contains("resourceLogs")
                && err.contains("resourceMetrics"),
            "{line}: {err}"
        );
    }
    let both = r#"{"resourceSpans":[],"resourceLogs":[]}"#;
    let err = parse_line(both).expect_err(both).to_string();
    assert!(err.contains("more than one"), "{err}");
    for bad in [
        "",
        "null",
        "[]",
        "1",
        r#""resourceSpans""#,
        "{",
        "{\"resourceLogs\":",
    ] {
        assert!(parse_line(bad).is_err(), "{bad:?} parsed");
    }
    assert!(matches!(
        parse_line(r#"{"resourceSpans":[]}"#),
        Ok(ExportRequest::Traces(_))
    ));
    assert!(matches!(
        parse_line(r#" {"resourceLogs":[]}"#),
        Ok(ExportRequest::Logs(_))
    ));
    assert!(matches!(
        parse_line(r#"{"resourceMetrics":[]}"#),
        Ok(ExportRequest::Metrics(_))
    ));
}

/// A real line of each signal, to mutate.
fn sample_lines() -> &'static [String] {
    static LINES: OnceLock<Vec<String>> = OnceLock::new();
    LINES.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let t = Telemetry::builder()
            .service("reader-test", "0.1.0")
            .env(Environment::from_pairs::<&str, &str>([]))
            .consent(ConsentPolicy::opt_in().exempt(Category::PERFORMANCE))
            .exporter(FileExporter::builder(dir.path()).build().unwrap())
            .build()
            .unwrap();
        let h = t
            .histogram("h", Category::PERFORMANCE)
            .boundaries(vec![0.5, 2.5])
            .build()
            .unwrap();
        t.in_span("op", Category::PERFORMANCE, |s| {
            s.set_attribute("x", 0.25f64);
            t.event("e", Category::PERFORMANCE).public("n", 3u64).emit();
            h.record(1.5, &[]);
        });
        t.shutdown(Duration::from_secs(5));
        let lines: Vec<String> = Signal::ALL
            .into_iter()
            .flat_map(|s| files(dir.path(), s).unwrap())
            .flat_map(|p| read_lines(&p).unwrap().lines)
            .collect();
        assert_eq!(lines.len(), 3);
        lines
    })
}

proptest! {
    /// `parse_line` returns (never panics) on any text, and on real lines
    /// cut short or with a character changed.
    #[test]
    fn parse_line_never_panics(
        text in ".{0,200}",
        which in 0usize..3,
        cut in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        c in any::<char>(),
    ) {
        let _ = parse_line(&text);
        let lines = sample_lines();
        let line = &lines[which];
        let chars: Vec<char> = line.chars().collect();
        let cut_short: String = chars[..cut.index(chars.len())].iter().collect();
        let _ = parse_line(&cut_short);
        let mut changed = chars.clone();
        changed[at.index(chars.len())] = c;
        let _ = parse_line(&changed.into_iter().collect::<String>());
    }
}

/// A line that is not valid UTF-8 is reported, by line number, instead of
/// being altered; the other lines of the file are read as usual.
#[test]
fn lines_that_are_not_utf8_are_reported_not_altered() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("telemetry-logs-x.jsonl");
    let good = r#"{"resourceLogs":[]}"#;
    let mut bytes = Vec::new();
    bytes.extend_from_slice(good.as_bytes());
    bytes.push(b'\n');
    bytes.extend_from_slice(b"{\"resourceLogs\":[{\"x\":\"\xff\xfe\"}]}\n");
    bytes.extend_from_slice("é".as_bytes());
    bytes.push(b'\n');
    bytes.extend_from_slice(b"\xc3"); // a partial tail cut inside a character
    std::fs::write(&path, &bytes).unwrap();
    let content = read_lines(&path).unwrap();
    assert!(
        !content.lines.iter().any(|l| l.contains('\u{fffd}')),
        "altered: {:?}",
        content.lines
    );
    assert_eq!(content.lines, [good, "é"]);
    let invalid: Vec<_> = content
        .invalid_utf8
        .iter()
        .map(|l| (l.number, l.bytes.clone(), l.error.valid_up_to()))
        .collect();
    assert_eq!(
        invalid,
        [
            (2, b"{\"resourceLogs\":[{\"x\":\"\xff\xfe\"}]}".to_vec(), 23),
            (4, b"\xc3".to_vec(), 0),
        ]
    );
    assert_eq!(content.partial_tail, None, "the invalid tail is listed");
    assert_eq!(
        content.invalid_utf8[0].to_string(),
        "line 2 is not valid UTF-8: invalid utf-8 sequence of 1 bytes from index 23"
    );
    // Files that are all valid, with and without a partial tail.
    for (text, lines, tail) in [
        ("", &[][..], None),
        ("\n", &[""][..], None),
        ("a\n\nb", &["a", ""][..], Some("b")),
        ("a\nb\n", &["a", "b"][..], None),
    ] {
        std::fs::write(&path, text).unwrap();
        let content = read_lines(&path).unwrap();
        assert_eq!(content.lines, lines, "{text:?}");
        assert_eq!(content.partial_tail.as_deref(), tail, "{text:?}");
        assert!(content.invalid_utf8.is_empty());
    }
}
