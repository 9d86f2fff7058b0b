//! Reading OTLP/JSON-lines files back: every complete line is one export
//! request; the last line of a file may be cut short if the writing process
//! died mid-write, and is reported apart instead of failing the read.

use std::fs;
use std::io;
use std::path::Path;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

/// One line of a file, parsed.
#[derive(Debug, Clone, PartialEq)]
pub enum ExportRequest {
    /// A trace export request.
    Traces(ExportTraceServiceRequest),
    /// A logs export request.
    Logs(ExportLogsServiceRequest),
    /// A metrics export request.
    Metrics(ExportMetricsServiceRequest),
}

/// A file's content: its complete lines, and a trailing partial line if the
/// writer died mid-line.
#[derive(Debug, Clone, Default)]
pub struct FileLines {
    /// Complete lines, without their `\n`.
    pub lines: Vec<String>,
    /// Text after the last `\n`, if any (a line cut short by a crash).
    pub partial_tail: Option<String>,
}

/// Reads a file's lines, separating a partial last line.
pub fn read_lines(path: &Path) -> io::Result<FileLines> {
    let bytes = fs::read(path)?;
    let text = String::from_utf8_lossy(&bytes);
    let mut out = FileLines::default();
    let mut rest = text.as_ref();
    while let Some(i) = rest.find('\n') {
        out.lines.push(rest[..i].to_owned());
        rest = &rest[i + 1..];
    }
    if !rest.is_empty() {
        out.partial_tail = Some(rest.to_owned());
    }
    Ok(out)
}

/// Parses one line as the request type its top-level field names.
pub fn parse_line(line: &str) -> Result<ExportRequest, serde_json::Error> {
    let trimmed = line.trim_start();
    let key_at = |k: &str| trimmed.find(k).unwrap_or(usize::MAX);
    let (spans, logs, metrics) = (
        key_at("\"resourceSpans\""),
        key_at("\"resourceLogs\""),
        key_at("\"resourceMetrics\""),
    );
    if spans < logs && spans < metrics {
        serde_json::from_str(line).map(ExportRequest::Traces)
    } else if logs < metrics {
        serde_json::from_str(line).map(ExportRequest::Logs)
    } else {
        serde_json::from_str(line).map(ExportRequest::Metrics)
    }
}
