//! The file exporter: OTLP/JSON lines or OTLP protobuf, one file series per
//! signal, rotated by size and age, with retention by count and age (cargo
//! feature `file`).
//!
//! In the default format, [`FileFormat::JsonLines`], each line is one
//! `ExportTraceServiceRequest`, `ExportLogsServiceRequest` or
//! `ExportMetricsServiceRequest` in the OTLP/JSON encoding: what the
//! OpenTelemetry Collector's `otlpjsonfile` receiver reads, and what any
//! OTLP/HTTP endpoint accepts as `Content-Type: application/json`. In
//! [`FileFormat::Protobuf`] each of them is a length-delimited protobuf
//! message instead, the same messages (smaller, and read back without a
//! JSON parser; each one is the body of an OTLP/HTTP
//! `application/x-protobuf` request).
//! [`read_lines`] and [`parse_line`] read the first, [`read_messages`] the
//! second.
//!
//! ```no_run
//! use std::time::Duration;
//! use telemetry_exporters::file::{FileExporter, Fsync};
//!
//! # fn main() -> Result<(), telemetry_core::ConfigError> {
//! let exporter = FileExporter::builder("./telemetry-out")
//!     .max_file_bytes(64 * 1024 * 1024)
//!     .max_file_age(Duration::from_secs(3600))
//!     .max_files(48)
//!     .max_total_age(Duration::from_secs(7 * 24 * 3600))
//!     .fsync(Fsync::Interval(Duration::from_secs(1)))
//!     .build()?;
//! # Ok(()) }
//! ```
//!
//! The protobuf format, and reading a series back:
//!
//! ```no_run
//! use std::path::Path;
//! use telemetry_core::export::Signal;
//! use telemetry_exporters::file::{FileExporter, FileFormat, files, read_messages};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let exporter = FileExporter::builder("./telemetry-out")
//!     .format(FileFormat::Protobuf)
//!     .compress_rotated(true)
//!     .build()?;
//! // Later, or in another process:
//! for path in files(Path::new("./telemetry-out"), Signal::Logs)? {
//!     if FileFormat::of_path(&path) == Some(FileFormat::Protobuf) {
//!         let content = read_messages(&path)?;
//!         for request in content.requests {
//!             println!("{request:?}");
//!         }
//!     }
//! }
//! # drop(exporter);
//! # Ok(()) }
//! ```
//!
//! Crash safety: a line (or a message with its length prefix) is written
//! with one `write` call on a file opened for appending; if a write fails
//! part-way (a full disk), the file is cut back to the end of the previous
//! one. A reader only ever sees a partial line or message at the end of a
//! file whose writer died mid-write ([`read_lines`] and [`read_messages`]
//! report it apart).
//!
//! Permissions: the files hold pseudonymous personal data, so on unix
//! every file the exporter creates is owner-only (mode 0600), and so is
//! every directory it creates (0700), whatever the umask; a directory that
//! already exists keeps its mode.
//!
//! Faults: a directory that cannot be created or written is an error at
//! build time. At run time a failed write drops that batch (counted by the
//! pipeline as `exporter_failure` and here by cause in [`FileStats`]), the
//! service keeps running, and writing resumes when the disk has room again.

mod naming;
mod non_finite;
mod reader;
mod reserve;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use telemetry_core::export::{Batch, ExportError, ExportErrorKind, Exporter};
use telemetry_core::{ConfigError, ConfigErrorKind};

pub use naming::list;
pub use reader::{
    ExportRequest, FileLines, FileMessages, InvalidLine, InvalidMessage, MAX_MESSAGE_BYTES,
    parse_line, read_lines, read_messages, read_messages_as,
};
use telemetry_core::export::Signal;

use crate::proto_wire::{self, Framing, TooLarge};

/// How the file exporter encodes export requests on disk (see
/// [`FileExporterBuilder::format`]).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FileFormat {
    /// OTLP/JSON, one export request per line, in `.jsonl` files (the
    /// default): readable with a text editor and `jq`, and what the
    /// Collector's `otlpjsonfile` receiver reads. Read back with
    /// [`read_lines`] and [`parse_line`].
    #[default]
    JsonLines,
    /// OTLP protobuf, one export request per message, each preceded by its
    /// length as a protobuf varint (prost's `encode_length_delimited`, Java's
    /// `writeDelimitedTo`), in `.otlp.pb` files: the same messages as the
    /// JSON, in about 40% of the bytes (for the file-throughput benchmark's
    /// events). Read back with [`read_messages`].
    Protobuf,
}

impl FileFormat {
    /// The file name extension, with its dot: `.jsonl` or `.otlp.pb`
    /// (rotated files compressed with
    /// [`compress_rotated`](FileExporterBuilder::compress_rotated) add
    /// `.gz`).
    pub const fn extension(self) -> &'static str {
        match self {
            FileFormat::JsonLines => ".jsonl",
            FileFormat::Protobuf => ".otlp.pb",
        }
    }

    /// The format of a file by its name (compressed or not), as [`files`]
    /// and [`list`] return it; `None` for a name with neither extension.
    pub fn of_path(path: &Path) -> Option<FileFormat> {
        let name = path.file_name()?.to_str()?;
        let name = name.strip_suffix(".gz").unwrap_or(name);
        [FileFormat::JsonLines, FileFormat::Protobuf]
            .into_iter()
            .find(|f| name.ends_with(f.extension()))
    }
}

/// When written data is forced to disk with `fsync`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Fsync {
    /// Never: the OS writes it back when it chooses (fastest; a machine
    /// crash can lose the last seconds, a process crash loses nothing).
    /// `force_flush` and `shutdown` do not `fsync` either: every batch is
    /// already handed to the OS when its export returns.
    Never,
    /// After every batch (safest, slowest).
    EveryBatch,
    /// At most once per interval, after a batch; and on `force_flush` and
    /// `shutdown` (so does `EveryBatch`).
    Interval(Duration),
}

/// Configures a [`FileExporter`].
#[derive(Clone, Debug)]
#[must_use = "call .build()"]
pub struct FileExporterBuilder {
    dir: PathBuf,
    prefix: String,
    max_file_bytes: u64,
    max_file_age: Duration,
    max_files: usize,
    max_total_age: Option<Duration>,
    fsync: Fsync,
    compress_rotated: bool,
    format: FileFormat,
    inject_failures: Option<Arc<AtomicBool>>,
}

impl FileExporterBuilder {
    /// Compresses each file with gzip when it is rotated (off by default):
    /// `….jsonl` becomes `….jsonl.gz` (`….otlp.pb`, `….otlp.pb.gz`),
    /// written beside it and renamed into place before the plain file is
    /// removed, so a crash leaves one complete copy or the other. [`files`]
    /// lists them and [`read_lines`] and [`read_messages`] read them as they
    /// read plain files; the file being written stays plain until it is
    /// rotated.
    pub fn compress_rotated(mut self, compress: bool) -> Self {
        self.compress_rotated = compress;
        self
    }

    /// How requests are encoded (default [`FileFormat::JsonLines`]). The
    /// format only changes the encoding and the file name extension:
    /// rotation, size limits, retention, `fsync`, crash safety and
    /// compression work the same. Retention counts the files of both
    /// formats under the same prefix, and [`files`] lists both.
    pub fn format(mut self, format: FileFormat) -> Self {
        self.format = format;
        self
    }

    /// File name prefix (default `telemetry`): files are named
    /// `<prefix>-<signal>-<UTC time>-<seq>.jsonl` (`.otlp.pb` in the
    /// protobuf format).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Rotate when a file would grow past this size (default 64 MiB).
    pub fn max_file_bytes(mut self, bytes: u64) -> Self {
        self.max_file_bytes = bytes;
        self
    }

    /// Rotate when a file is older than this (default 1 hour).
    pub fn max_file_age(mut self, age: Duration) -> Self {
        self.max_file_age = age;
        self
    }

    /// Keep at most this many files per signal (default 48); the oldest go first.
    pub fn max_files(mut self, files: usize) -> Self {
        self.max_files = files;
        self
    }

    /// Delete files last written longer ago than this (default: keep).
    pub fn max_total_age(mut self, age: Duration) -> Self {
        self.max_total_age = Some(age);
        self
    }

    /// When to `fsync` (default: at most once a second).
    pub fn fsync(mut self, fsync: Fsync) -> Self {
        self.fsync = fsync;
        self
    }

    /// Test hook: while the flag is set, every write fails as if the disk
    /// were full.
    #[doc(hidden)]
    pub fn inject_write_failures(mut self, flag: Arc<AtomicBool>) -> Self {
        self.inject_failures = Some(flag);
        self
    }

    /// Creates the directory if needed and checks that it can be written.
    pub fn build(self) -> Result<FileExporter, ConfigError> {
        let bad = |msg: String| Err(ConfigError::new(ConfigErrorKind::Exporter, msg));
        if self.prefix.is_empty() || self.prefix.contains(['/', '\\']) {
            return bad(format!(
                "file exporter prefix {:?} must be non-empty and contain no path separator",
                self.prefix
            ));
        }
        if self.max_file_bytes < 1024 {
            return bad(format!(
                "file exporter max_file_bytes is {}; use at least 1024 (64 MiB is a good default)",
                self.max_file_bytes
            ));
        }
        if self.max_files == 0 || self.max_file_age.is_zero() {
            return bad("file exporter max_files and max_file_age must be positive".to_owned());
        }
        if let Err(e) = create_dir_owner_only(&self.dir) {
            return bad(format!(
                "cannot create the telemetry directory {}: {e}; choose a directory the service can write",
                self.dir.display()
            ));
        }
        let probe = self.dir.join(format!(
            ".{}-write-test-{}",
            self.prefix,
            std::process::id()
        ));
        let written = owner_only()
            .write(true)
            .truncate(true)
            .open(&probe)
            .and_then(|mut f| f.write_all(b"probe"));
        let _ = fs::remove_file(&probe);
        if let Err(e) = written {
            return bad(format!(
                "cannot write to the telemetry directory {}: {e}; check its permissions and free space",
                self.dir.display()
            ));
        }
        let stats = Arc::new(StatsCells::default());
        Ok(FileExporter {
            writers: [
                SignalWriter::new(),
                SignalWriter::new(),
                SignalWriter::new(),
            ],
            config: self,
            stats,
            buf: Vec::with_capacity(64 * 1024),
            scratch: proto_wire::Scratch::default(),
        })
    }
}

/// Options that create a file owner-only (0600 on unix): telemetry files
/// hold pseudonymous personal data. The mode applies when the file is
/// created; the umask can only narrow it further.
pub(crate) fn owner_only() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

/// Creates `dir` and any missing parents owner-only (0700 on unix);
/// directories that already exist keep their mode.
fn create_dir_owner_only(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

#[derive(Default, Debug)]
struct StatsCells {
    lines: AtomicU64,
    bytes: AtomicU64,
    rotations: AtomicU64,
    deleted: AtomicU64,
    failed_no_space: AtomicU64,
    failed_io: AtomicU64,
}

/// What the file exporter did, readable while it runs.
#[derive(Clone, Debug)]
pub struct FileStats {
    cells: Arc<StatsCells>,
}

impl FileStats {
    /// Export requests written (lines, or messages in the protobuf format).
    pub fn lines_written(&self) -> u64 {
        self.cells.lines.load(Ordering::Relaxed)
    }
    /// Bytes written.
    pub fn bytes_written(&self) -> u64 {
        self.cells.bytes.load(Ordering::Relaxed)
    }
    /// Files closed by rotation.
    pub fn rotations(&self) -> u64 {
        self.cells.rotations.load(Ordering::Relaxed)
    }
    /// Files deleted by retention.
    pub fn files_deleted(&self) -> u64 {
        self.cells.deleted.load(Ordering::Relaxed)
    }
    /// Batches dropped because the disk was full.
    pub fn failed_no_space(&self) -> u64 {
        self.cells.failed_no_space.load(Ordering::Relaxed)
    }
    /// Batches dropped for another I/O error.
    pub fn failed_io(&self) -> u64 {
        self.cells.failed_io.load(Ordering::Relaxed)
    }
}

struct SignalWriter {
    file: Option<File>,
    path: Option<PathBuf>,
    size: u64,
    /// Room reserved on disk ahead of the writes (see [`reserve`]).
    reserved: reserve::Reserved,
    opened: Instant,
    last_sync: Instant,
    seq: u64,
}

impl SignalWriter {
    fn new() -> Self {
        SignalWriter {
            file: None,
            path: None,
            size: 0,
            reserved: reserve::Reserved::UpTo(0),
            opened: Instant::now(),
            last_sync: Instant::now(),
            seq: 0,
        }
    }

    /// Closes the file, giving back the room reserved past its end.
    fn close(&mut self) -> Option<File> {
        let file = self.file.take()?;
        reserve::release(&file, self.size, self.reserved);
        Some(file)
    }
}

impl Drop for SignalWriter {
    fn drop(&mut self) {
        self.close();
    }
}

/// Writes batches as OTLP/JSON lines or OTLP protobuf messages. See the
/// [module docs](self).
pub struct FileExporter {
    config: FileExporterBuilder,
    writers: [SignalWriter; 3],
    stats: Arc<StatsCells>,
    buf: Vec<u8>,
    scratch: proto_wire::Scratch,
}

impl std::fmt::Debug for FileExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileExporter")
            .field("dir", &self.config.dir)
            .finish_non_exhaustive()
    }
}

impl FileExporter {
    /// Starts configuring an exporter that writes into `dir`.
    pub fn builder(dir: impl Into<PathBuf>) -> FileExporterBuilder {
        FileExporterBuilder {
            dir: dir.into(),
            prefix: "telemetry".to_owned(),
            max_file_bytes: 64 * 1024 * 1024,
            max_file_age: Duration::from_secs(3600),
            max_files: 48,
            max_total_age: None,
            fsync: Fsync::Interval(Duration::from_secs(1)),
            compress_rotated: false,
            format: FileFormat::JsonLines,
            inject_failures: None,
        }
    }

    /// The directory written to.
    pub fn dir(&self) -> &Path {
        &self.config.dir
    }

    /// A handle to the exporter's counters.
    pub fn stats(&self) -> FileStats {
        FileStats {
            cells: self.stats.clone(),
        }
    }

    /// Encodes one signal of `batch` into `self.buf`: a line with its
    /// `\n`, or a message with its length prefix.
    fn encode(&mut self, signal: Signal, batch: &Batch<'_>) -> Result<(), ExportError> {
        self.buf.clear();
        let (out, res, names) = (&mut self.buf, batch.resource, batch.categories);
        match self.config.format {
            FileFormat::JsonLines => {
                match signal {
                    Signal::Traces => crate::otlp_json::encode_traces(out, res, names, batch.spans),
                    Signal::Logs => crate::otlp_json::encode_logs(out, res, names, batch.logs),
                    Signal::Metrics => {
                        crate::otlp_json::encode_metrics(out, res, names, batch.metrics)
                    }
                }
                out.push(b'\n');
                Ok(())
            }
            FileFormat::Protobuf => {
                // Spans and logs straight into protobuf bytes (see
                // `proto_wire`); metrics through the `prost` messages.
                let framing = Framing::Delimited {
                    max: MAX_MESSAGE_BYTES,
                };
                let scratch = &mut self.scratch;
                let written = match signal {
                    Signal::Traces => {
                        proto_wire::trace_request(out, scratch, framing, res, names, batch.spans)
                    }
                    Signal::Logs => {
                        proto_wire::logs_request(out, scratch, framing, res, names, batch.logs)
                    }
                    Signal::Metrics => {
                        return delimited(
                            out,
                            &crate::proto::metrics_request(res, names, batch.metrics),
                        );
                    }
                };
                written.map_err(|TooLarge(len)| too_large(len))
            }
        }
    }

    fn write_line(&mut self, signal: Signal) -> Result<(), ExportError> {
        let idx = Signal::ALL.iter().position(|s| *s == signal).unwrap_or(0);
        let len = self.buf.len() as u64;
        let config = &self.config;
        let stats = &self.stats;
        let w = &mut self.writers[idx];
        let needs_rotation = w.file.is_some()
            && ((w.size > 0 && w.size + len > config.max_file_bytes)
                || w.opened.elapsed() >= config.max_file_age);
        if needs_rotation {
            if let Some(f) = w.close() {
                let _ = f.sync_all();
            }
            if config.compress_rotated
                && let Some(old) = &w.path
            {
                // A failure leaves the plain file, which reads the same.
                let _ = naming::compress(old);
            }
            stats.rotations.fetch_add(1, Ordering::Relaxed);
        }
        if w.file.is_none() {
            w.seq += 1;
            let path = config.dir.join(naming::file_name(
                &config.prefix,
                signal,
                SystemTime::now(),
                w.seq,
                config.format,
            ));
            let file = owner_only()
                .append(true)
                .open(&path)
                .map_err(|e| classify(stats, &e, &path))?;
            w.file = Some(file);
            w.path = Some(path);
            w.size = 0;
            w.reserved = reserve::Reserved::UpTo(0);
            w.opened = Instant::now();
            let deleted = naming::enforce_retention(
                &config.dir,
                &config.prefix,
                signal,
                w.path.as_deref(),
                config.max_files,
                config.max_total_age,
            )
            .unwrap_or(0);
            stats.deleted.fetch_add(deleted, Ordering::Relaxed);
        }
        let (Some(file), Some(path)) = (w.file.as_mut(), w.path.as_ref()) else {
            return Err(ExportError::new(ExportErrorKind::Other, "no open file"));
        };
        let injected = config
            .inject_failures
            .as_ref()
            .is_some_and(|f| f.load(Ordering::SeqCst));
        let result = if injected {
            Err(io::Error::from_raw_os_error(28)) // ENOSPC
        } else {
            reserve::ahead(file, w.size, len, &mut w.reserved, config.max_file_bytes);
            file.write_all(&self.buf)
        };
        if let Err(e) = result {
            // Cut back any partial line so readers never see one mid-file
            // (which also gives back any room reserved past it).
            let _ = file.set_len(w.size);
            w.reserved = reserve::Reserved::UpTo(0);
            return Err(classify(stats, &e, path));
        }
        w.size += len;
        stats.lines.fetch_add(1, Ordering::Relaxed);
        stats.bytes.fetch_add(len, Ordering::Relaxed);
        let sync = match config.fsync {
            Fsync::Never => false,
            Fsync::EveryBatch => true,
            Fsync::Interval(d) => w.last_sync.elapsed() >= d,
        };
        if sync {
            w.last_sync = Instant::now();
            file.sync_data().map_err(|e| classify(stats, &e, path))?;
        }
        Ok(())
    }
}

/// Appends `message` with its length prefix, unless it is larger than
/// [`MAX_MESSAGE_BYTES`] (which the reader would refuse).
fn delimited(out: &mut Vec<u8>, message: &impl prost::Message) -> Result<(), ExportError> {
    let len = message.encoded_len();
    if len > MAX_MESSAGE_BYTES {
        return Err(too_large(len));
    }
    message
        .encode_length_delimited(out)
        .map_err(|e| ExportError::new(ExportErrorKind::Encoding, e.to_string()))
}

/// The error for an export request of `len` bytes, over the format's cap.
fn too_large(len: usize) -> ExportError {
    ExportError::new(
        ExportErrorKind::Encoding,
        format!(
            "an export request of {len} bytes is above the {MAX_MESSAGE_BYTES}-byte \
             message cap of the protobuf file format; use a smaller batch size"
        ),
    )
}

fn classify(stats: &StatsCells, e: &io::Error, path: &Path) -> ExportError {
    let no_space = e.raw_os_error() == Some(28) || e.kind() == io::ErrorKind::StorageFull;
    if no_space {
        stats.failed_no_space.fetch_add(1, Ordering::Relaxed);
        ExportError::new(
            ExportErrorKind::NoSpace,
            format!("disk full writing {}: {e}", path.display()),
        )
    } else {
        stats.failed_io.fetch_add(1, Ordering::Relaxed);
        ExportError::new(
            ExportErrorKind::Unavailable,
            format!("cannot write {}: {e}", path.display()),
        )
    }
}

impl Exporter for FileExporter {
    fn export(&mut self, batch: &Batch<'_>) -> Result<(), ExportError> {
        // Local disk: one check before writing is enough (writes do not wait
        // on a peer the way network sends do).
        if !batch.is_current() {
            return Err(ExportError::stale());
        }
        let mut first_error: Option<ExportError> = None;
        let mut failed = [false; 3];
        for (i, signal) in Signal::ALL.into_iter().enumerate() {
            let empty = match signal {
                Signal::Traces => batch.spans.is_empty(),
                Signal::Logs => batch.logs.is_empty(),
                Signal::Metrics => batch.metrics.is_empty(),
            };
            if empty {
                continue;
            }
            // One signal failing does not stop the others.
            let written = self
                .encode(signal, batch)
                .and_then(|()| self.write_line(signal));
            if let Err(e) = written {
                failed[i] = true;
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            None => Ok(()),
            Some(e) => Err(e.only(Signal::ALL.into_iter().filter(|s| failed[s.index()]))),
        }
    }

    fn force_flush(&mut self, _deadline: Instant) -> Result<(), ExportError> {
        if self.config.fsync == Fsync::Never {
            // Each batch was written when it was exported; the OS has it.
            return Ok(());
        }
        for w in &mut self.writers {
            if let Some(f) = &w.file {
                f.sync_data().map_err(|e| {
                    ExportError::new(ExportErrorKind::Unavailable, format!("fsync failed: {e}"))
                })?;
                w.last_sync = Instant::now();
            }
        }
        Ok(())
    }

    fn shutdown(&mut self, deadline: Instant) -> Result<(), ExportError> {
        let r = self.force_flush(deadline);
        for w in &mut self.writers {
            w.close();
        }
        r
    }
}

/// Every file of `signal` under `dir` with the default prefix, oldest
/// first, in either format (see [`list`] and [`FileFormat::of_path`]).
pub fn files(dir: &Path, signal: Signal) -> io::Result<Vec<PathBuf>> {
    list(dir, "telemetry", signal)
}
