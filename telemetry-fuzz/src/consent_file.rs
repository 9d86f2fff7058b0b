//! The consent file of `FileConsentStore`.

use std::fmt;
use std::path::Path;

use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use telemetry_core::Category;
use telemetry_core::consent::{Choices, ConsentStore, FileConsentStore};
use telemetry_core::export::SubjectKey;
use telemetry_core::fuzzing::consent_file_parse;

use crate::input::scratch_dir;

/// The subject keys of a consent file exactly as written, duplicates kept
/// (read independently of the store's parser).
struct RawKeys(Option<Vec<String>>);

struct SubjectKeys(Vec<String>);

impl<'de> serde::Deserialize<'de> for SubjectKeys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SubjectKeys;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SubjectKeys, A::Error> {
                let mut keys = Vec::new();
                while let Some((k, IgnoredAny)) = map.next_entry::<String, IgnoredAny>()? {
                    keys.push(k);
                }
                Ok(SubjectKeys(keys))
            }
        }
        d.deserialize_map(V)
    }
}

impl<'de> serde::Deserialize<'de> for RawKeys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawKeys;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a consent file")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawKeys, A::Error> {
                let mut subjects = None;
                while let Some(k) = map.next_key::<String>()? {
                    if k == "subjects" {
                        subjects = Some(map.next_value::<SubjectKeys>()?.0);
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(RawKeys(subjects))
            }
            // Serde reads a struct from a sequence of its fields too.
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawKeys, A::Error> {
                let _format: Option<IgnoredAny> = seq.next_element()?;
                let subjects = seq.next_element::<SubjectKeys>()?.map(|s| s.0);
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(RawKeys(subjects))
            }
        }
        d.deserialize_any(V)
    }
}

fn raw_keys(bytes: &[u8]) -> Option<Vec<String>> {
    serde_json::from_slice::<RawKeys>(bytes)
        .ok()
        .and_then(|r| r.0)
}

fn remove(path: &Path) {
    let _ = std::fs::remove_file(path);
    let mut lock = path.as_os_str().to_os_string();
    lock.push(".lock");
    let _ = std::fs::remove_file(lock);
}

/// Opens the store at `path` and returns what it loads.
fn load(path: &Path) -> Vec<(SubjectKey, Choices)> {
    let store = FileConsentStore::open(path);
    assert!(store.is_ok(), "{:?}", store.as_ref().err());
    let loaded = store.as_ref().map(|s| s.load());
    assert!(
        matches!(loaded, Ok(Ok(_))),
        "cannot load {}: {loaded:?}",
        path.display()
    );
    match loaded {
        Ok(Ok(v)) => v,
        _ => Vec::new(),
    }
}

/// Parses `data` as a consent file, and checks that a file the parser
/// accepts:
///
/// - lists each subject key of the file once, in the one form the store
///   writes (no aliasing: two distinct keys in the file never collapse into
///   one subject, nor does one key hide another);
/// - never both grants and denies a category;
/// - opened as a `FileConsentStore`, loads the same choices, and saved again
///   (real files, in a temporary folder) re-reads the same, through the
///   parser and through a new store.
pub fn consent_file(data: &[u8]) {
    let name = Path::new("consent.json");
    let Ok(parsed) = consent_file_parse(name, data) else {
        return;
    };
    let raw = raw_keys(data);
    assert!(raw.is_some(), "accepted, but has no readable subjects map");
    let raw = raw.unwrap_or_default();
    assert_eq!(
        parsed.len(),
        raw.len(),
        "{} subject entries in the file, {} accepted",
        raw.len(),
        parsed.len()
    );
    for (key, choices) in &parsed {
        assert!(raw.contains(&key.to_hex()), "{key:?} is not in the file");
        assert_eq!(
            choices.granted.bits() & choices.denied.bits(),
            0,
            "{key:?} both grants and denies"
        );
    }

    let path = scratch_dir().join("consent.json");
    remove(&path);
    let written = std::fs::write(&path, data);
    assert!(written.is_ok(), "{written:?}");
    assert_eq!(load(&path), parsed, "the store loads other choices");

    // Save again (one subject, unchanged, or a new one), then re-read.
    let mut expected = parsed.clone();
    {
        let store = FileConsentStore::open(&path);
        assert!(store.is_ok(), "{:?}", store.as_ref().err());
        if let Ok(store) = store {
            let (key, choices) = parsed.first().copied().unwrap_or_else(|| {
                let c = Choices {
                    granted: Category::BUSINESS.into(),
                    denied: Category::ERRORS.into(),
                };
                expected.push((SubjectKey([7; 16]), c));
                (SubjectKey([7; 16]), c)
            });
            let saved = store.save(key, choices);
            assert!(saved.is_ok(), "{saved:?}");
        }
    }
    let rewritten = std::fs::read(&path).unwrap_or_default();
    let reparsed = consent_file_parse(name, &rewritten);
    assert!(
        reparsed.as_ref().is_ok_and(|r| *r == expected),
        "saved {:?}, re-read {reparsed:?}",
        expected
    );
    assert_eq!(load(&path), expected, "a new store loads other choices");
    remove(&path);
}
