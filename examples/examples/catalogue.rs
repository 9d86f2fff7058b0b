//! Prints the catalogue of everything the example service can collect,
//! generated from its code: every derived event and instrumented function,
//! with fields, types, privacy classes, metrics and source locations.
//!
//! ```text
//! cargo run --example catalogue          # Markdown
//! cargo run --example catalogue -- json  # JSON
//! ```

// The service whose catalogue this is: naming it links its registrations in.
#[allow(unused_imports)]
use examples::checkout as _;

fn main() {
    let catalogue = telemetry_core::catalogue::Catalogue::collect();
    if std::env::args().nth(1).as_deref() == Some("json") {
        println!("{}", catalogue.to_json());
    } else {
        print!("{}", catalogue.to_markdown());
    }
}
