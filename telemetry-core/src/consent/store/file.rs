//! [`FileConsentStore`]: choices kept in one JSON file for one process,
//! replaced atomically on every change; what was not persisted is not kept,
//! except a revocation.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::category::CategorySet;
use crate::error::ConsentError;
use crate::subject::{Choices, SubjectKey};

use super::ConsentStore;
use super::format::{FILE_FORMAT, FileFormat, StoredChoices};
use super::lock::{lock_file, owner_only, parent_dir};
use super::parse;

/// A store backed by one JSON file, replaced atomically on every change
/// (write to a temporary file, fsync, rename, fsync the directory), so a
/// crash leaves either the old or the new file, never a torn one.
///
/// It serves **one process**: opening takes an exclusive lock on
/// `<file>.lock`, and a second process (or a second store in the same
/// process) gets an error that says so. Use a shared store for several
/// replicas. The file and its lock are created readable by their owner only
/// (they hold pseudonymous personal data).
///
/// Every save rewrites the whole file: fine for thousands of subjects with
/// occasional changes; implement [`ConsentStore`] over your database for more.
#[derive(Debug)]
pub struct FileConsentStore {
    path: PathBuf,
    map: Mutex<BTreeMap<SubjectKey, Choices>>,
    /// Held open for the store's life: the exclusive lock.
    _lock: fs::File,
}

impl FileConsentStore {
    /// Opens the store at `path`. A missing file is an empty store (created on
    /// the first change); an unreadable or corrupt file is an error, and so is
    /// a file another store holds open.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, ConsentError> {
        let path = path.into();
        let lock = lock_file(&path)?;
        let map = match fs::read(&path) {
            Ok(bytes) => parse(&path, &bytes)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => {
                return Err(ConsentError::new(format!(
                    "cannot read consent file {}: {e}; check its permissions",
                    path.display()
                )));
            }
        };
        Ok(FileConsentStore {
            path,
            map: Mutex::new(map),
            _lock: lock,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write(&self, map: &BTreeMap<SubjectKey, Choices>) -> Result<(), ConsentError> {
        let doc = FileFormat {
            format: FILE_FORMAT,
            subjects: map
                .iter()
                .map(|(k, c)| {
                    (
                        k.to_hex(),
                        StoredChoices {
                            granted: c.granted.bits(),
                            denied: c.denied.bits(),
                        },
                    )
                })
                .collect(),
        };
        let err = |what: &str, e: &dyn std::fmt::Display| {
            ConsentError::new(format!(
                "cannot {what} consent file {}: {e}",
                self.path.display()
            ))
        };
        let bytes = serde_json::to_vec_pretty(&doc).map_err(|e| err("encode", &e))?;
        let dir = parent_dir(&self.path);
        fs::create_dir_all(&dir).map_err(|e| err("create the directory of", &e))?;
        // A name of our own: never a file another writer could be filling.
        let mut tmp_name = self.path.file_name().unwrap_or_default().to_os_string();
        tmp_name.push(format!(
            ".{}.{:016x}.tmp",
            std::process::id(),
            crate::trace::next_random()
        ));
        let tmp = dir.join(tmp_name);
        let written = (|| {
            let mut file = owner_only(fs::OpenOptions::new().write(true).create_new(true))
                .open(&tmp)
                .map_err(|e| err("create a temporary file for", &e))?;
            file.write_all(&bytes).map_err(|e| err("write", &e))?;
            file.sync_all().map_err(|e| err("fsync", &e))?;
            drop(file);
            fs::rename(&tmp, &self.path).map_err(|e| err("replace", &e))
        })();
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written?;
        if let Ok(d) = fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

impl ConsentStore for FileConsentStore {
    fn load(&self) -> Result<Vec<(SubjectKey, Choices)>, ConsentError> {
        let map = self
            .map
            .lock()
            .map_err(|_| ConsentError::new("file store lock poisoned"))?;
        Ok(map.iter().map(|(k, c)| (*k, *c)).collect())
    }

    fn save(&self, subject: SubjectKey, choices: Choices) -> Result<(), ConsentError> {
        let mut map = self
            .map
            .lock()
            .map_err(|_| ConsentError::new("file store lock poisoned"))?;
        let previous = map.insert(subject, choices);
        if let Err(e) = self.write(&map) {
            // What was not persisted is not kept, except what narrows: the
            // registry applies a revocation even when saving it failed, so
            // the next successful save must write it, not the old grant.
            let kept = match previous {
                Some(p) => p.narrowest(choices),
                None => Choices {
                    granted: CategorySet::EMPTY,
                    denied: choices.denied,
                },
            };
            if kept.is_empty() {
                map.remove(&subject);
            } else {
                map.insert(subject, kept);
            }
            return Err(e);
        }
        Ok(())
    }

    fn is_persistent(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::category::Category;

    fn c(g: Category) -> Choices {
        Choices {
            granted: g.into(),
            denied: CategorySet::EMPTY,
        }
    }

    #[test]
    fn file_store_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/consent.json");
        let s = FileConsentStore::open(&path).unwrap();
        s.save(SubjectKey([1; 16]), c(Category::BUSINESS)).unwrap();
        s.save(SubjectKey([2; 16]), c(Category::INTERACTION))
            .unwrap();
        drop(s);
        let s = FileConsentStore::open(&path).unwrap();
        let mut all = s.load().unwrap();
        all.sort_by_key(|(k, _)| *k);
        assert_eq!(
            all,
            vec![
                (SubjectKey([1; 16]), c(Category::BUSINESS)),
                (SubjectKey([2; 16]), c(Category::INTERACTION))
            ]
        );
        assert!(!path.with_file_name("consent.json.tmp").exists());
        drop(s);
    }

    #[test]
    fn failed_write_leaves_state_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the file should be: rename onto it fails.
        let path = dir.path().join("consent.json");
        fs::create_dir(&path).unwrap();
        fs::write(path.join("x"), b"x").unwrap();
        let s = FileConsentStore {
            path: path.clone(),
            map: Mutex::new(BTreeMap::new()),
            _lock: lock_file(&dir.path().join("other.json")).unwrap(),
        };
        assert!(s.save(SubjectKey([1; 16]), c(Category::BUSINESS)).is_err());
        assert!(s.load().unwrap().is_empty());
    }

    #[test]
    fn a_revocation_that_failed_to_persist_is_written_by_the_next_save() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("consent.json");
        let s = FileConsentStore::open(&path).unwrap();
        let alice = SubjectKey([1; 16]);
        s.save(alice, c(Category::BUSINESS)).unwrap();
        // The disk goes away for one write: the revocation is not saved ...
        let revoked = Choices {
            granted: CategorySet::EMPTY,
            denied: Category::BUSINESS.into(),
        };
        let real = s.path.clone();
        let blocked = dir.path().join("blocked");
        fs::create_dir(&blocked).unwrap();
        fs::write(blocked.join("x"), b"x").unwrap();
        let s = FileConsentStore { path: blocked, ..s };
        assert!(s.save(alice, revoked).is_err());
        let s = FileConsentStore { path: real, ..s };
        // ... and the next successful save of anyone writes it, not the grant.
        s.save(SubjectKey([2; 16]), c(Category::INTERACTION))
            .unwrap();
        drop(s);
        let reopened = FileConsentStore::open(&path).unwrap();
        let alice_now = reopened
            .load()
            .unwrap()
            .into_iter()
            .find(|(k, _)| *k == alice);
        assert_eq!(alice_now.map(|(_, c)| c), Some(revoked));
    }

    /// The names a fixed temporary name would take (`<file>.tmp`, or one
    /// per process, `<file>.<pid>.tmp`) may hold another writer's file, or
    /// anything else: a save never touches them.
    #[test]
    fn a_save_never_touches_what_holds_a_fixed_temporary_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("consent.json");
        let fixed = dir.path().join("consent.json.tmp");
        fs::create_dir(&fixed).unwrap();
        fs::write(fixed.join("inside"), b"keep").unwrap();
        let per_process = dir
            .path()
            .join(format!("consent.json.{}.tmp", std::process::id()));
        fs::write(&per_process, b"another writer's partial file").unwrap();
        let mut read_only = fs::metadata(&per_process).unwrap().permissions();
        read_only.set_readonly(true);
        fs::set_permissions(&per_process, read_only).unwrap();

        let s = FileConsentStore::open(&path).unwrap();
        for i in 1..=3 {
            s.save(SubjectKey([i; 16]), c(Category::BUSINESS)).unwrap();
        }
        drop(s);
        assert_eq!(
            FileConsentStore::open(&path).unwrap().load().unwrap().len(),
            3
        );
        assert_eq!(fs::read(fixed.join("inside")).unwrap(), b"keep");
        assert_eq!(fs::read_dir(&fixed).unwrap().count(), 1);
        assert_eq!(
            fs::read(&per_process).unwrap(),
            b"another writer's partial file"
        );
        assert!(fs::metadata(&per_process).unwrap().permissions().readonly());
        // Nothing else is left behind.
        let mut names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let mut expected = vec![
            "consent.json".to_owned(),
            format!("consent.json.{}.tmp", std::process::id()),
            "consent.json.lock".to_owned(),
            "consent.json.tmp".to_owned(),
        ];
        expected.sort();
        assert_eq!(names, expected);
    }

    /// Another process holds the lock: the flock(1) utility takes the same
    /// flock(2) lock as `File::try_lock` on Linux, and holds it until its
    /// command (which does not inherit it) sees its input close.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_file_locked_by_another_process_is_a_clear_error() {
        use std::io::{BufRead, BufReader};
        use std::process::{Command, Stdio};

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("consent.json");
        let mut holder = Command::new("flock")
            .args(["--exclusive", "--nonblock", "--close"])
            .arg(dir.path().join("consent.json.lock"))
            .args(["-c", "echo held; cat >/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run flock(1) (util-linux)");
        let mut line = String::new();
        BufReader::new(holder.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "held", "flock did not take the lock");

        let err = FileConsentStore::open(&path).unwrap_err().to_string();
        assert!(err.contains("is in use by another process"), "{err}");
        assert!(
            err.contains("give each process its own file")
                && err.contains("shared store (telemetry-consent-postgres)"),
            "the error does not name the fix: {err}"
        );
        assert!(!path.exists(), "a refused open wrote the file");

        // Released when the other process ends.
        drop(holder.stdin.take());
        assert!(holder.wait().unwrap().success());
        let s = FileConsentStore::open(&path).unwrap();
        s.save(SubjectKey([4; 16]), c(Category::BUSINESS)).unwrap();
    }

    #[test]
    fn one_process_one_file_and_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("consent.json");
        let first = FileConsentStore::open(&path).unwrap();
        let err = FileConsentStore::open(&path).unwrap_err().to_string();
        assert!(err.contains("in use by another process"), "{err}");
        first
            .save(SubjectKey([3; 16]), c(Category::BUSINESS))
            .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{mode:o}");
        }
        // No temporary file is left behind.
        let left: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(left.is_empty());
        drop(first);
        assert!(FileConsentStore::open(&path).is_ok(), "released on drop");
    }
}
