//! Room reserved on disk ahead of a file's writes.
//!
//! A file that grows by appends has the filesystem find room for it at
//! every write (on ext4, delayed allocation: a space reservation, a quota
//! charge and extent-tree updates each time). On Linux the exporter
//! reserves that room in steps of [`STEP`] with `fallocate` and
//! `FALLOC_FL_KEEP_SIZE`, which takes the work off each write: appending
//! 487-byte records in 250 kB writes cost the kernel about 98 ns a record
//! plain and 65–75 ns with the room reserved, the `fallocate` calls
//! included (docs/performance.md). The size readers see is unchanged
//! (`KEEP_SIZE`); room reserved and not used is given back when the file
//! is closed, by truncating it to its own length. Elsewhere, and on
//! filesystems that refuse, files are written as before.

use std::fs::File;

/// How much room is reserved at a time.
pub(crate) const STEP: u64 = 4 << 20;

/// What a file has reserved: up to which offset, or that its filesystem
/// refused (and is not asked again for this file).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Reserved {
    /// Room up to this offset (0: nothing reserved yet).
    UpTo(u64),
    /// `fallocate` failed once (unsupported, or the disk is full).
    Refused,
}

/// Makes room for `len` bytes after the file's first `size`, up to `limit`
/// (the rotation size) or at least `len`, if the room reserved so far ends
/// before. Best effort: a failure only stops the reserving for this file.
pub(crate) fn ahead(file: &File, size: u64, len: u64, reserved: &mut Reserved, limit: u64) {
    let Reserved::UpTo(end) = *reserved else {
        return;
    };
    let need = size.saturating_add(len);
    if need <= end {
        return;
    }
    let start = end.max(size);
    let to = start.saturating_add(STEP).min(limit).max(need);
    *reserved = match allocate(file, start, to - start) {
        Ok(()) => Reserved::UpTo(to),
        Err(()) => Reserved::Refused,
    };
}

/// Gives back the room reserved past the file's first `size` bytes (which
/// is all it holds). Needed only if anything was asked for.
pub(crate) fn release(file: &File, size: u64, reserved: Reserved) {
    if reserved != Reserved::UpTo(0) {
        // Truncating to its own length frees the blocks past the end.
        let _ = file.set_len(size);
    }
}

#[cfg(target_os = "linux")]
fn allocate(file: &File, offset: u64, len: u64) -> Result<(), ()> {
    use rustix::fs::{FallocateFlags, fallocate};
    fallocate(file, FallocateFlags::KEEP_SIZE, offset, len).map_err(|_| ())
}

#[cfg(not(target_os = "linux"))]
fn allocate(_file: &File, _offset: u64, _len: u64) -> Result<(), ()> {
    Err(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn blocks(file: &File) -> u64 {
        use std::os::unix::fs::MetadataExt;
        file.metadata().map(|m| m.blocks() * 512).unwrap_or(0)
    }

    #[test]
    fn reserves_in_steps_keeps_the_size_and_gives_the_rest_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.path().join("f"))
            .unwrap();
        let mut reserved = Reserved::UpTo(0);
        let limit = 64 << 20;
        ahead(&file, 0, 1000, &mut reserved, limit);
        if reserved == Reserved::Refused {
            eprintln!("this filesystem refuses fallocate: nothing to check");
            return;
        }
        assert_eq!(reserved, Reserved::UpTo(STEP));
        file.write_all(&[b'x'; 1000]).unwrap();
        // Within the room reserved: nothing asked.
        ahead(&file, 1000, STEP - 1000, &mut reserved, limit);
        assert_eq!(reserved, Reserved::UpTo(STEP));
        // Past it: the next step, from where the room ended.
        ahead(&file, 1000, STEP, &mut reserved, limit);
        assert_eq!(reserved, Reserved::UpTo(2 * STEP));
        // Readers see what was written, not what was reserved.
        assert_eq!(file.metadata().unwrap().len(), 1000);
        assert!(
            blocks(&file) >= 2 * STEP,
            "{} bytes of blocks",
            blocks(&file)
        );
        release(&file, 1000, reserved);
        assert_eq!(file.metadata().unwrap().len(), 1000);
        assert!(blocks(&file) < STEP, "{} bytes of blocks", blocks(&file));
    }

    #[test]
    fn never_past_the_rotation_size_unless_one_write_is_larger() {
        let dir = tempfile::tempdir().unwrap();
        let file = File::create(dir.path().join("f")).unwrap();
        let mut reserved = Reserved::UpTo(0);
        ahead(&file, 0, 100, &mut reserved, 1 << 20);
        if reserved == Reserved::Refused {
            return;
        }
        assert_eq!(reserved, Reserved::UpTo(1 << 20));
        ahead(&file, 1 << 20, 5 << 20, &mut reserved, 1 << 20);
        assert_eq!(reserved, Reserved::UpTo(6 << 20));
    }

    #[test]
    fn a_refusal_is_not_asked_again() {
        let dir = tempfile::tempdir().unwrap();
        let file = File::create(dir.path().join("f")).unwrap();
        let mut reserved = Reserved::Refused;
        ahead(&file, 0, 100, &mut reserved, 1 << 20);
        assert_eq!(reserved, Reserved::Refused);
        assert_eq!(blocks(&file), 0);
    }
}
