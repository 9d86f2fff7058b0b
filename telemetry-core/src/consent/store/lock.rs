//! What keeps a file store to one process: the exclusive lock on
//! `<file>.lock`, taken when the store opens and held for its life, and the
//! owner-only creation of the store's files (they hold pseudonymous
//! personal data).

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::ConsentError;

/// The directory a store file lives in.
pub(super) fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Options that create a file readable and writable by its owner only.
pub(super) fn owner_only(options: &mut fs::OpenOptions) -> &mut fs::OpenOptions {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

/// Takes the exclusive lock of the store at `path` (on `<path>.lock`).
pub(super) fn lock_file(path: &Path) -> Result<fs::File, ConsentError> {
    let dir = parent_dir(path);
    fs::create_dir_all(&dir).map_err(|e| {
        ConsentError::new(format!(
            "cannot create the directory of consent file {}: {e}",
            path.display()
        ))
    })?;
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    let lock_path = dir.join(name);
    let file = owner_only(fs::OpenOptions::new().read(true).write(true).create(true))
        .open(&lock_path)
        .map_err(|e| {
            ConsentError::new(format!(
                "cannot open the lock file {}: {e}; check the directory's permissions",
                lock_path.display()
            ))
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(ConsentError::new(format!(
            "consent file {} is in use by another process (or another store in this one): \
             a file store serves one process; give each process its own file, or share \
             consent between replicas through a shared store (telemetry-consent-postgres)",
            path.display()
        ))),
        Err(fs::TryLockError::Error(e)) => Err(ConsentError::new(format!(
            "cannot lock consent file {}: {e}",
            path.display()
        ))),
    }
}
