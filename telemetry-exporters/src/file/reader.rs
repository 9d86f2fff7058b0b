//! Reading OTLP/JSON-lines files back: every complete line is one export
//! request; the last line of a file may be cut short if the writing process
//! died mid-write, and is reported apart instead of failing the read, as
//! is any line that is not valid UTF-8.

use std::fmt;
use std::fs;
use std::io;
use std::path::Path;
use std::str::Utf8Error;

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

/// A file's content: its complete lines, a trailing partial line if the
/// writer died mid-line, and the lines that are not valid UTF-8.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct FileLines {
    /// Complete lines that are valid UTF-8, without their `\n`, in file
    /// order.
    pub lines: Vec<String>,
    /// Text after the last `\n`, if any (a line cut short by a crash).
    pub partial_tail: Option<String>,
    /// Lines that are not valid UTF-8, in file order: left out of `lines`
    /// rather than altered. A partial tail that is not valid UTF-8 (a crash
    /// in the middle of a character) is listed here too, as the last line.
    pub invalid_utf8: Vec<InvalidLine>,
}

/// A line of a file that is not valid UTF-8, as [`read_lines`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InvalidLine {
    /// Its line number in the file, counting from 1.
    pub number: usize,
    /// Its bytes, without the `\n`.
    pub bytes: Vec<u8>,
    /// Where its UTF-8 goes wrong.
    pub error: Utf8Error,
}

impl fmt::Display for InvalidLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {} is not valid UTF-8: {}", self.number, self.error)
    }
}

impl std::error::Error for InvalidLine {}

/// Reads a file's lines, separating a partial last line and the lines that
/// are not valid UTF-8 (reported in [`FileLines::invalid_utf8`], never
/// altered). Fails only if the file cannot be read.
pub fn read_lines(path: &Path) -> io::Result<FileLines> {
    let bytes = if path.extension().is_some_and(|e| e == "gz") {
        gunzip(path)?
    } else {
        fs::read(path)?
    };
    let mut out = FileLines::default();
    // The last piece is what follows the last `\n`: empty when the file
    // ends with one.
    let mut pieces = bytes.split(|&b| b == b'\n').enumerate().peekable();
    while let Some((i, piece)) = pieces.next() {
        let last = pieces.peek().is_none();
        if last && piece.is_empty() {
            break;
        }
        match std::str::from_utf8(piece) {
            Ok(text) if last => out.partial_tail = Some(text.to_owned()),
            Ok(text) => out.lines.push(text.to_owned()),
            Err(error) => out.invalid_utf8.push(InvalidLine {
                number: i + 1,
                bytes: piece.to_vec(),
                error,
            }),
        }
    }
    Ok(out)
}

/// The most a compressed file may expand to (a rotated file is at most
/// `max_file_bytes`, 64 MiB by default): a file that expands further is
/// refused rather than read into memory.
const MAX_GUNZIPPED: u64 = 1 << 30;

/// A `.gz` file's content, at most [`MAX_GUNZIPPED`] bytes.
fn gunzip(path: &Path) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let file = fs::File::open(path)?;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(file)
        .take(MAX_GUNZIPPED + 1)
        .read_to_end(&mut out)?;
    if out.len() as u64 > MAX_GUNZIPPED {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} expands to more than {MAX_GUNZIPPED} bytes; it is not a file this exporter wrote",
                path.display()
            ),
        ));
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
