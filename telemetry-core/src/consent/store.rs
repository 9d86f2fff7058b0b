//! Where consent choices live between restarts: the [`ConsentStore`] trait,
//! an in-memory store and a file-backed store with atomic replace.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::category::CategorySet;
use crate::error::ConsentError;
use crate::subject::{Choices, SubjectKey};

/// Persists consent choices, keyed by pseudonymous subject key.
///
/// `load` is called once when the pipeline is built; `save` on every change,
/// from the thread that changes consent (never from the hot path). A store
/// that cannot be read must return an error, never an empty result: a
/// corrupt store is not a reason to grant or forget anything.
pub trait ConsentStore: Send + Sync + 'static {
    /// Every stored subject and its choices.
    fn load(&self) -> Result<Vec<(SubjectKey, Choices)>, ConsentError>;
    /// Stores (replaces) the choices of one subject.
    fn save(&self, subject: SubjectKey, choices: Choices) -> Result<(), ConsentError>;
    /// Whether choices survive a restart; such a store needs a stable
    /// subject key (a configured hash key) to find its subjects again.
    fn is_persistent(&self) -> bool {
        false
    }
}

/// A store that keeps choices in memory only (the default).
#[derive(Debug, Default)]
pub struct MemoryConsentStore {
    map: Mutex<BTreeMap<SubjectKey, Choices>>,
}

impl MemoryConsentStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl ConsentStore for MemoryConsentStore {
    fn load(&self) -> Result<Vec<(SubjectKey, Choices)>, ConsentError> {
        let map = self
            .map
            .lock()
            .map_err(|_| ConsentError::new("memory store lock poisoned"))?;
        Ok(map.iter().map(|(k, c)| (*k, *c)).collect())
    }

    fn save(&self, subject: SubjectKey, choices: Choices) -> Result<(), ConsentError> {
        let mut map = self
            .map
            .lock()
            .map_err(|_| ConsentError::new("memory store lock poisoned"))?;
        map.insert(subject, choices);
        Ok(())
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct FileFormat {
    format: u32,
    subjects: BTreeMap<String, StoredChoices>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct StoredChoices {
    granted: u64,
    denied: u64,
}

const FILE_FORMAT: u32 = 1;

/// A store backed by one JSON file, replaced atomically on every change
/// (write to a temporary file, fsync, rename, fsync the directory), so a
/// crash leaves either the old or the new file, never a torn one.
///
/// Every save rewrites the whole file: fine for thousands of subjects with
/// occasional changes; implement [`ConsentStore`] over your database for more.
#[derive(Debug)]
pub struct FileConsentStore {
    path: PathBuf,
    map: Mutex<BTreeMap<SubjectKey, Choices>>,
}

impl FileConsentStore {
    /// Opens the store at `path`. A missing file is an empty store (created on
    /// the first change); an unreadable or corrupt file is an error.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, ConsentError> {
        let path = path.into();
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
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&dir).map_err(|e| err("create the directory of", &e))?;
        let mut tmp_name = self.path.file_name().unwrap_or_default().to_os_string();
        tmp_name.push(".tmp");
        let tmp = dir.join(tmp_name);
        let mut file =
            fs::File::create(&tmp).map_err(|e| err("create a temporary file for", &e))?;
        file.write_all(&bytes).map_err(|e| err("write", &e))?;
        file.sync_all().map_err(|e| err("fsync", &e))?;
        drop(file);
        fs::rename(&tmp, &self.path).map_err(|e| err("replace", &e))?;
        if let Ok(d) = fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

fn parse(path: &Path, bytes: &[u8]) -> Result<BTreeMap<SubjectKey, Choices>, ConsentError> {
    let corrupt = |why: String| {
        ConsentError::new(format!(
            "consent file {} is corrupt ({why}); restore it from a backup or move it away \
             (every subject then starts with the policy defaults)",
            path.display()
        ))
    };
    let doc: FileFormat = serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
    if doc.format != FILE_FORMAT {
        return Err(corrupt(format!("unknown format version {}", doc.format)));
    }
    let mut map = BTreeMap::new();
    for (hex, c) in doc.subjects {
        let key = SubjectKey::from_hex(&hex)
            .ok_or_else(|| corrupt(format!("bad subject key {hex:?}")))?;
        if c.granted & c.denied != 0 {
            return Err(corrupt(format!(
                "subject {hex} both grants and denies a category"
            )));
        }
        map.insert(
            key,
            Choices {
                granted: CategorySet::from_bits(c.granted),
                denied: CategorySet::from_bits(c.denied),
            },
        );
    }
    Ok(map)
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
            match previous {
                Some(p) => map.insert(subject, p),
                None => map.remove(&subject),
            };
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
    }

    #[test]
    fn corrupt_file_is_an_error_not_a_grant() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("consent.json");
        fs::write(&path, b"{\"format\":1,\"subjects\":{\"0101").unwrap();
        let err = FileConsentStore::open(&path).unwrap_err().to_string();
        assert!(err.contains("is corrupt"), "{err}");
        assert!(err.contains("restore it from a backup"), "{err}");
        fs::write(
            &path,
            br#"{"format":1,"subjects":{"nothex":{"granted":1,"denied":0}}}"#,
        )
        .unwrap();
        let err = FileConsentStore::open(&path).unwrap_err().to_string();
        assert!(err.contains("bad subject key"), "{err}");
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
        };
        assert!(s.save(SubjectKey([1; 16]), c(Category::BUSINESS)).is_err());
        assert!(s.load().unwrap().is_empty());
    }
}
