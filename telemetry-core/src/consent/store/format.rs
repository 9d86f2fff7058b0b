//! The file store's format: a JSON object of subject keys (32 lower-case
//! hex digits) and their choices, under a format version. Reading it is
//! strict: a corrupt file, an unknown version, a key spelled another way or
//! given twice is an error, never a grant.

use std::collections::BTreeMap;
use std::path::Path;

use crate::category::CategorySet;
use crate::error::ConsentError;
use crate::subject::{Choices, SubjectKey};

#[derive(serde::Serialize)]
pub(super) struct FileFormat {
    pub(super) format: u32,
    pub(super) subjects: BTreeMap<String, StoredChoices>,
}

#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct StoredChoices {
    pub(super) granted: u64,
    pub(super) denied: u64,
}

pub(super) const FILE_FORMAT: u32 = 1;

/// The subjects of a consent file in the order written, duplicates kept (a
/// JSON object read into a map would silently keep only the last of two
/// equal keys).
struct Entries(Vec<(String, StoredChoices)>);

impl<'de> serde::Deserialize<'de> for Entries {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Entries;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of subject keys")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Entries, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry::<String, StoredChoices>()? {
                    out.push(entry);
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(Visit)
    }
}

#[derive(serde::Deserialize)]
struct FileFormatIn {
    format: u32,
    subjects: Entries,
}

pub(crate) fn parse(
    path: &Path,
    bytes: &[u8],
) -> Result<BTreeMap<SubjectKey, Choices>, ConsentError> {
    let corrupt = |why: String| {
        ConsentError::new(format!(
            "consent file {} is corrupt ({why}); restore it from a backup or move it away \
             (every subject then starts with the policy defaults)",
            path.display()
        ))
    };
    let doc: FileFormatIn = serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
    if doc.format != FILE_FORMAT {
        return Err(corrupt(format!("unknown format version {}", doc.format)));
    }
    let mut map = BTreeMap::new();
    for (hex, c) in doc.subjects.0 {
        // Only the form this store writes: 32 lower-case hex digits. Any
        // other spelling of a key could alias another entry.
        let key = SubjectKey::from_hex(&hex)
            .filter(|k| k.to_hex() == hex)
            .ok_or_else(|| {
                corrupt(format!(
                    "bad subject key {hex:?}: expected 32 lower-case hex digits"
                ))
            })?;
        if c.granted & c.denied != 0 {
            return Err(corrupt(format!(
                "subject {hex} both grants and denies a category"
            )));
        }
        let choices = Choices {
            granted: CategorySet::from_bits(c.granted),
            denied: CategorySet::from_bits(c.denied),
        };
        if map.insert(key, choices).is_some() {
            return Err(corrupt(format!("subject {hex} appears twice")));
        }
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use std::fs;

    use crate::consent::store::FileConsentStore;

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
    fn aliased_or_repeated_subject_keys_are_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("consent.json");
        let key = "0b9b".repeat(8);
        let entry = |k: &str, granted: u64, denied: u64| {
            format!("\"{k}\":{{\"granted\":{granted},\"denied\":{denied}}}")
        };
        for subjects in [
            format!("{},{}", entry(&key, 16, 0), entry(&key, 0, 16)),
            format!(
                "{},{}",
                entry(&key, 16, 0),
                entry(&key.to_uppercase(), 0, 16)
            ),
            entry(&key.to_uppercase(), 0, 16),
            entry(&format!("+{}", &key[1..]), 0, 16),
        ] {
            fs::write(
                &path,
                format!("{{\"format\":1,\"subjects\":{{{subjects}}}}}"),
            )
            .unwrap();
            let err = FileConsentStore::open(&path).unwrap_err().to_string();
            assert!(err.contains("is corrupt"), "{subjects}: {err}");
        }
    }
}
