//! Two methods named `get` in different types: building an instance in a
//! program that links both is an error naming both places.
use telemetry_core::{instrument_event, ConfigErrorKind, Telemetry};

struct Document;
struct Folder;

impl Document {
    #[instrument_event]
    fn get(&self) -> u32 {
        1
    }
}

impl Folder {
    #[instrument_event]
    fn get(&self) -> u32 {
        2
    }

    #[instrument_event(name = "folder.list")]
    fn list(&self) -> u32 {
        3
    }
}

fn main() {
    let _ = (Document.get(), Folder.get(), Folder.list());
    let e = Telemetry::builder().service("docs", "1").build().unwrap_err();
    assert_eq!(e.kind(), ConfigErrorKind::DuplicateName);
    let text = e.to_string();
    assert!(text.contains("`get`"), "{text}");
    assert!(text.contains("instrument-two-methods-one-name.rs:9"), "{text}");
    assert!(text.contains("instrument-two-methods-one-name.rs:16"), "{text}");
}
