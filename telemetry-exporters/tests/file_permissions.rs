//! Telemetry files hold pseudonymous personal data: the file exporter
//! creates them owner-only (0600), and the directories it creates 0700,
//! whatever the process umask allows. Its own test binary, since it
//! changes the process-wide umask.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use telemetry_core::export::Signal;
use telemetry_core::*;
use telemetry_exporters::file::{FileExporter, Fsync, files};

#[cfg(target_os = "linux")]
mod umask {
    unsafe extern "C" {
        // `mode_t` is `u32` on Linux.
        fn umask(mask: u32) -> u32;
    }
    /// Sets the umask, returning the previous one.
    pub fn set(mask: u32) -> u32 {
        // SAFETY: umask(2) cannot fail and touches no memory.
        unsafe { umask(mask) }
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The umask is process-wide: the tests that change it take turns.
static UMASK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Writes enough through a file exporter into `<root>/a/telemetry`, under
/// the widest umask (anything the exporter does not restrict itself comes
/// out world-readable and writable), to rotate every signal's file a few
/// times; returns the modes that are not what they should be and the
/// files written.
fn write_and_check(root: &Path, compress_rotated: bool) -> (Vec<String>, Vec<std::path::PathBuf>) {
    let _turn = UMASK.lock().unwrap_or_else(|p| p.into_inner());
    #[cfg(target_os = "linux")]
    let old = umask::set(0);
    let dir = root.join("a").join("telemetry");
    let file = FileExporter::builder(&dir)
        .max_file_bytes(2048)
        .compress_rotated(compress_rotated)
        .fsync(Fsync::Never)
        .build()
        .unwrap();
    let t = Telemetry::builder()
        .service("perm-test", "0.1.0")
        .env(Environment::from_pairs::<&str, &str>([]))
        .consent(ConsentPolicy::opt_in().exempt(Category::PERFORMANCE))
        .exporter(file)
        .build()
        .unwrap();
    let n = t.counter("n", Category::PERFORMANCE).build().unwrap();
    for i in 0..20u64 {
        t.in_span("op", Category::PERFORMANCE, |s| s.set_attribute("i", i));
        t.event("e", Category::PERFORMANCE).public("i", i).emit();
        n.add(1, &[]);
        t.force_flush().unwrap();
    }
    t.shutdown(Duration::from_secs(5));
    #[cfg(target_os = "linux")]
    umask::set(old);

    let mut wrong = Vec::new();
    let mut check = |path: &Path, want: u32| {
        let got = mode(path);
        if got != want {
            wrong.push(format!("{}: {got:o}, want {want:o}", path.display()));
        }
    };
    check(&root.join("a"), 0o700);
    check(&dir, 0o700);
    let mut written = Vec::new();
    for signal in Signal::ALL {
        let list = files(&dir, signal).unwrap();
        assert!(!list.is_empty(), "{signal:?} written");
        for path in list {
            check(&path, 0o600);
            written.push(path);
        }
    }
    assert!(written.len() > 3, "rotation created several files");
    // Nothing else (a leftover probe or temporary file) in the directory.
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), written.len());
    (wrong, written)
}

#[test]
fn files_are_0600_and_created_directories_0700() {
    let root = tempfile::tempdir().unwrap();
    let (wrong, _) = write_and_check(root.path(), false);
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn rotated_files_compressed_with_gzip_are_0600_too() {
    let root = tempfile::tempdir().unwrap();
    let (wrong, written) = write_and_check(root.path(), true);
    let gz = written
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "gz"))
        .count();
    assert!(gz >= 3, "rotated files were compressed: {written:#?}");
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn an_existing_directory_keeps_its_mode() {
    let root = tempfile::tempdir().unwrap();
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o750)).unwrap();
    let _exporter = FileExporter::builder(root.path()).build().unwrap();
    assert_eq!(mode(root.path()), 0o750);
}
