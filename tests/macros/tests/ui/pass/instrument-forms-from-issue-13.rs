//! Forms that once failed: a `&mut` return, a one-line async body under
//! `deny(warnings)`, raw identifiers, and `fields(..)` naming an argument
//! from a `macro_rules!` expansion.
#![deny(warnings)]

use telemetry_core::instrument_event;

struct Document {
    title: String,
}

impl Document {
    #[instrument_event(name = "doc.title_mut")]
    fn title_mut(&mut self) -> &mut String {
        &mut self.title
    }

    #[instrument_event(name = "doc.first_word")]
    fn first_word(&self) -> &str {
        self.title.split(' ').next().unwrap_or("")
    }
}

#[instrument_event]
async fn one_line(x: u32) -> u32 { x }

#[instrument_event]
async fn one_line_unit() {}

#[instrument_event(fields(r#type, r#match = hash))]
fn r#raw(r#type: &str, r#match: u64) -> usize {
    r#type.len() + r#match as usize
}

macro_rules! instrumented {
    ($name:ident, $arg:ident) => {
        #[instrument_event(fields($arg))]
        fn $name($arg: u64) -> u64 {
            $arg + 1
        }
    };
}

instrumented!(from_macro, amount);

fn main() {
    let mut d = Document { title: "hello world".into() };
    d.title_mut().push('!');
    assert_eq!(d.title, "hello world!");
    assert_eq!(d.first_word(), "hello");
    assert_eq!(r#raw("ab", 1), 3);
    assert_eq!(from_macro(1), 2);
    let _ = one_line(1);
    let _ = one_line_unit();
}
