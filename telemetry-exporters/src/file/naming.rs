//! File names that sort by time, and retention (by count and by age).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use telemetry_core::export::Signal;

use super::FileFormat;

/// `YYYYMMDDTHHMMSS.ffffffZ` in UTC: sorts lexicographically by time.
pub(crate) fn timestamp(t: SystemTime) -> String {
    let d = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = civil_from_days(days as i64);
    format!(
        "{y:04}{m:02}{day:02}T{:02}{:02}{:02}.{:06}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        d.subsec_micros()
    )
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian, UTC).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `<prefix>-<signal>-<timestamp>-<seq><extension>`, the extension
/// being the format's (`.jsonl` or `.otlp.pb`).
pub(crate) fn file_name(
    prefix: &str,
    signal: Signal,
    t: SystemTime,
    seq: u64,
    format: FileFormat,
) -> String {
    format!(
        "{prefix}-{}-{}-{seq:06}{}",
        signal.name(),
        timestamp(t),
        format.extension()
    )
}

/// The signal named by a file this exporter wrote
/// (`<prefix>-<signal>-<timestamp>-<seq>.<extension>[.gz]`, the prefix
/// possibly holding `-` itself), or `None` for another name.
pub(crate) fn signal_of(path: &Path) -> Option<Signal> {
    let name = path.file_name()?.to_str()?;
    let name = name.strip_suffix(".gz").unwrap_or(name);
    let stem = [FileFormat::JsonLines, FileFormat::Protobuf]
        .into_iter()
        .find_map(|f| name.strip_suffix(f.extension()))?;
    // From the right: sequence number, timestamp (no `-` in either), signal.
    let mut parts = stem.rsplitn(4, '-');
    let (_seq, _time, signal, _prefix) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    Signal::ALL.into_iter().find(|s| s.name() == signal)
}

/// The files of one signal in `dir`, oldest first, in either format: plain
/// (`.jsonl`, `.otlp.pb`) and compressed (`.jsonl.gz`, `.otlp.pb.gz`). A
/// plain file whose compressed copy is complete (a crash between the rename
/// and the removal) is left out. [`FileFormat::of_path`] tells the formats
/// apart.
pub fn list(dir: &Path, prefix: &str, signal: Signal) -> io::Result<Vec<PathBuf>> {
    let start = format!("{prefix}-{}-", signal.name());
    let plain = |n: &str| {
        n.ends_with(FileFormat::JsonLines.extension())
            || n.ends_with(FileFormat::Protobuf.extension())
    };
    let names: Vec<String> = fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with(&start) && (plain(n) || n.strip_suffix(".gz").is_some_and(plain)))
        .collect();
    let mut files: Vec<PathBuf> = names
        .iter()
        .filter(|n| !(plain(n) && names.contains(&format!("{n}.gz"))))
        .map(|n| dir.join(n))
        .collect();
    files.sort();
    Ok(files)
}

/// Compresses `path` (a rotated `.jsonl` or `.otlp.pb` file) into `<path>.gz`: written
/// to a temporary name, synced, renamed into place, then the plain file
/// is removed.
pub(crate) fn compress(path: &Path) -> io::Result<PathBuf> {
    let mut gz_name = path.as_os_str().to_owned();
    gz_name.push(".gz");
    let gz = PathBuf::from(gz_name);
    let mut tmp_name = gz.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    let written = (|| {
        let mut input = fs::File::open(path)?;
        let out = super::owner_only().write(true).truncate(true).open(&tmp)?;
        let mut encoder = flate2::write::GzEncoder::new(out, flate2::Compression::default());
        io::copy(&mut input, &mut encoder)?;
        let out = encoder.finish()?;
        out.sync_all()?;
        fs::rename(&tmp, &gz)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    fs::remove_file(path)?;
    Ok(gz)
}

/// Deletes the oldest files of a signal beyond `max_files`, and those last
/// written longer ago than `max_age`; never `current`. Returns how many.
pub(crate) fn enforce_retention(
    dir: &Path,
    prefix: &str,
    signal: Signal,
    current: Option<&Path>,
    max_files: usize,
    max_age: Option<Duration>,
) -> io::Result<u64> {
    let files = list(dir, prefix, signal)?;
    let now = SystemTime::now();
    let mut deleted = 0;
    let excess = files.len().saturating_sub(max_files);
    for (i, path) in files.iter().enumerate() {
        if Some(path.as_path()) == current {
            continue;
        }
        let too_many = i < excess;
        let too_old = max_age.is_some_and(|age| {
            fs::metadata(path)
                .and_then(|m| m.modified())
                .is_ok_and(|m| now.duration_since(m).unwrap_or(Duration::ZERO) > age)
        });
        if (too_many || too_old) && fs::remove_file(path).is_ok() {
            deleted += 1;
        }
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_and_sort() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_micros(1_795_000_000_123_456);
        assert_eq!(timestamp(t), "20261118T110640.123456Z");
        assert_eq!(timestamp(SystemTime::UNIX_EPOCH), "19700101T000000.000000Z");
        let leap = SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(&timestamp(leap)[..8], "20000229");
        let a = file_name("t", Signal::Logs, t, 2, FileFormat::JsonLines);
        let b = file_name(
            "t",
            Signal::Logs,
            t + Duration::from_secs(1),
            1,
            FileFormat::JsonLines,
        );
        assert!(a < b);
    }

    #[test]
    fn the_signal_is_read_back_from_the_name() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000);
        for format in [FileFormat::JsonLines, FileFormat::Protobuf] {
            for signal in Signal::ALL {
                for prefix in ["telemetry", "my-app-logs-x", "a"] {
                    let name = file_name(prefix, signal, t, 12, format);
                    assert_eq!(signal_of(Path::new(&name)), Some(signal), "{name}");
                    let gz = PathBuf::from(format!("/tmp/{name}.gz"));
                    assert_eq!(signal_of(&gz), Some(signal), "{}", gz.display());
                }
            }
        }
        for other in [
            "logs.otlp.pb",
            "x-traces.otlp.pb",
            "t-spans-20261118T110640.123456Z-000001.otlp.pb",
            "t-logs-20261118T110640.123456Z-000001.pb",
            "",
        ] {
            assert_eq!(signal_of(Path::new(other)), None, "{other}");
        }
    }
}
