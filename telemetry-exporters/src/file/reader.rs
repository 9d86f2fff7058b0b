//! Reading the files back.
//!
//! OTLP/JSON lines: every complete line is one export request; the last
//! line of a file may be cut short if the writing process died mid-write,
//! and is reported apart instead of failing the read, as is any line that
//! is not valid UTF-8.
//!
//! OTLP protobuf: every complete length-delimited message is one export
//! request; a message cut short at the end of the file is reported apart
//! the same way, and one that does not decode is reported with its
//! position. A length prefix above [`MAX_MESSAGE_BYTES`] fails the read.

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
use prost::Message;
use serde::Deserialize;
use telemetry_core::export::Signal;

/// One export request of a file: a line, or a protobuf message, parsed.
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
    let bytes = read_file(path)?;
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

/// A file's content: decompressed if its name ends in `.gz`.
fn read_file(path: &Path) -> io::Result<Vec<u8>> {
    if path.extension().is_some_and(|e| e == "gz") {
        gunzip(path)
    } else {
        fs::read(path)
    }
}

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

/// The largest message a protobuf file may hold, 64 MiB (its length prefix
/// not counted). The exporter refuses to write a larger one (the batch
/// fails with an encoding error) and [`read_messages`] refuses to read one:
/// a larger length prefix means a corrupt file, not a big batch.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// A protobuf file's content: its complete messages, decoded, a trailing
/// partial message if the writer died mid-write, and the complete messages
/// that do not decode.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct FileMessages {
    /// The export requests of the complete messages that decode, in file
    /// order.
    pub requests: Vec<ExportRequest>,
    /// The bytes after the last complete message, length prefix included,
    /// if any (a message cut short by a crash).
    pub partial_tail: Option<Vec<u8>>,
    /// Complete messages that do not decode as the file's request type, in
    /// file order: left out of `requests`, and the messages after them are
    /// read as usual.
    pub invalid: Vec<InvalidMessage>,
}

/// A complete message of a protobuf file that does not decode, as
/// [`read_messages`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InvalidMessage {
    /// Its position in the file, counting from 1.
    pub number: usize,
    /// The byte offset of its length prefix (in the decompressed content,
    /// for a `.gz` file).
    pub offset: u64,
    /// Its bytes, without the length prefix.
    pub bytes: Vec<u8>,
    /// Why it does not decode.
    pub error: String,
}

impl fmt::Display for InvalidMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "message {} (at byte {}) does not decode: {}",
            self.number, self.offset, self.error
        )
    }
}

impl std::error::Error for InvalidMessage {}

/// Reads every export request of a protobuf file (plain or `.gz`) that the
/// file exporter wrote in [`FileFormat::Protobuf`](super::FileFormat), one
/// length-delimited message after another.
///
/// The file's signal, which says how its messages decode (all three request
/// types look alike on the wire), comes from its name,
/// `<prefix>-<signal>-<time>-<seq>.otlp.pb[.gz]`: a file with another name
/// is an [`io::ErrorKind::InvalidInput`] error (read it with
/// [`read_messages_as`]), and so is a JSON-lines file (`.jsonl[.gz]`: read
/// it with [`read_lines`]).
///
/// A message cut short at the end (the writer killed mid-write) is reported
/// in [`FileMessages::partial_tail`] and a complete message that does not
/// decode in [`FileMessages::invalid`]; neither fails the read. The read
/// fails ([`io::ErrorKind::InvalidData`]) if the file cannot be read, if a
/// `.gz` file expands to more than 1 GiB, or if a length prefix is
/// malformed or above [`MAX_MESSAGE_BYTES`]: then the file is not one the
/// exporter wrote, or is corrupt past that point. Never panics, whatever
/// the input.
pub fn read_messages(path: &Path) -> io::Result<FileMessages> {
    if super::FileFormat::of_path(path) == Some(super::FileFormat::JsonLines) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} is an OTLP/JSON-lines file; read it with read_lines",
                path.display()
            ),
        ));
    }
    let Some(signal) = super::naming::signal_of(path) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{}: the name does not say the signal (<prefix>-<signal>-<time>-<seq>.otlp.pb); \
                 use read_messages_as",
                path.display()
            ),
        ));
    };
    read_messages_as(path, signal)
}

/// [`read_messages`] for a file whose messages are all of `signal`,
/// whatever its name.
pub fn read_messages_as(path: &Path, signal: Signal) -> io::Result<FileMessages> {
    let bytes = read_file(path)?;
    let mut out = FileMessages::default();
    let mut rest: &[u8] = &bytes;
    let mut offset = 0u64;
    let mut number = 0usize;
    while !rest.is_empty() {
        number += 1;
        let corrupt = |what: String| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{}: message {number} at byte {offset}: {what}; the file is corrupt \
                     from there, or is not an OTLP protobuf file this exporter wrote",
                    path.display()
                ),
            )
        };
        let Some((len, prefix)) = length_prefix(rest).map_err(corrupt)? else {
            out.partial_tail = Some(rest.to_vec());
            break;
        };
        let (Some(message), Some(after)) = (
            rest.get(prefix..prefix.saturating_add(len)),
            rest.get(prefix.saturating_add(len)..),
        ) else {
            out.partial_tail = Some(rest.to_vec());
            break;
        };
        match decode(signal, message) {
            Ok(request) => out.requests.push(request),
            Err(error) => out.invalid.push(InvalidMessage {
                number,
                offset,
                bytes: message.to_vec(),
                error: error.to_string(),
            }),
        }
        offset += (prefix + len) as u64;
        rest = after;
    }
    Ok(out)
}

/// The length prefix at the start of `buf` (a protobuf varint) and its
/// size in bytes; `None` if `buf` ends inside it. An error if it is above
/// [`MAX_MESSAGE_BYTES`] or longer than such a length needs.
fn length_prefix(buf: &[u8]) -> Result<Option<(usize, usize)>, String> {
    // 5 varint bytes hold 35 bits, more than MAX_MESSAGE_BYTES needs.
    const MAX_PREFIX: usize = 5;
    let mut value = 0u64;
    for (i, &b) in buf.iter().take(MAX_PREFIX).enumerate() {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return match usize::try_from(value) {
                Ok(len) if len <= MAX_MESSAGE_BYTES => Ok(Some((len, i + 1))),
                _ => Err(format!(
                    "the length prefix says {value} bytes, above the {MAX_MESSAGE_BYTES}-byte cap"
                )),
            };
        }
    }
    if buf.len() >= MAX_PREFIX {
        Err(format!(
            "the length prefix runs past {MAX_PREFIX} bytes, above the {MAX_MESSAGE_BYTES}-byte cap"
        ))
    } else {
        Ok(None)
    }
}

/// One message as the request type of `signal`.
fn decode(signal: Signal, message: &[u8]) -> Result<ExportRequest, prost::DecodeError> {
    Ok(match signal {
        Signal::Traces => ExportRequest::Traces(ExportTraceServiceRequest::decode(message)?),
        Signal::Logs => ExportRequest::Logs(ExportLogsServiceRequest::decode(message)?),
        Signal::Metrics => ExportRequest::Metrics(ExportMetricsServiceRequest::decode(message)?),
    })
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
