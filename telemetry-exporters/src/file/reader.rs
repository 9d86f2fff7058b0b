//! Reading OTLP/JSON-lines files back: every complete line is one export
//! request; the last line of a file may be cut short if the writing process
//! died mid-write, and is reported apart instead of failing the read.

use std::fs;
use std::io;
use std::path::Path;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::logs::v1::ResourceLogs;
use opentelemetry_proto::tonic::metrics::v1::ResourceMetrics;
use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
use serde::Deserialize;

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

/// Parses one line as the export request its top-level field names.
///
/// The line must be a JSON object naming exactly one of `resourceSpans`,
/// `resourceLogs` and `resourceMetrics`: a line naming none (such as `{}`)
/// or several is an error saying so. NaN and infinite doubles, which the
/// encoder writes as the proto3 JSON strings `"NaN"`, `"Infinity"` and
/// `"-Infinity"`, read back as such. Never panics, whatever the input.
pub fn parse_line(line: &str) -> Result<ExportRequest, serde_json::Error> {
    if !line.trim_start().starts_with('{') {
        return Err(invalid(
            "an export request line is a JSON object, starting with '{'",
        ));
    }
    let request = match super::non_finite::parse(line) {
        Some(parsed) => parsed?,
        None => serde_json::from_str::<AnyRequest>(line)?,
    };
    request.into_export_request()
}

fn invalid(message: &str) -> serde_json::Error {
    <serde_json::Error as serde::de::Error>::custom(message)
}

/// A line's top-level fields: which export request it holds.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", expecting = "an OTLP/JSON export request")]
pub(super) struct AnyRequest {
    pub(super) resource_spans: Option<Vec<ResourceSpans>>,
    pub(super) resource_logs: Option<Vec<ResourceLogs>>,
    pub(super) resource_metrics: Option<Vec<ResourceMetrics>>,
}

impl AnyRequest {
    fn into_export_request(self) -> Result<ExportRequest, serde_json::Error> {
        match (
            self.resource_spans,
            self.resource_logs,
            self.resource_metrics,
        ) {
            (Some(resource_spans), None, None) => {
                Ok(ExportRequest::Traces(ExportTraceServiceRequest {
                    resource_spans,
                }))
            }
            (None, Some(resource_logs), None) => {
                Ok(ExportRequest::Logs(ExportLogsServiceRequest {
                    resource_logs,
                }))
            }
            (None, None, Some(resource_metrics)) => {
                Ok(ExportRequest::Metrics(ExportMetricsServiceRequest {
                    resource_metrics,
                }))
            }
            (None, None, None) => Err(invalid(
                "the line names no export request: it needs one top-level field, \
                 \"resourceSpans\", \"resourceLogs\" or \"resourceMetrics\"",
            )),
            _ => Err(invalid(
                "the line names more than one export request (more than one of \
                 \"resourceSpans\", \"resourceLogs\" and \"resourceMetrics\"); \
                 a line holds one",
            )),
        }
    }
}
