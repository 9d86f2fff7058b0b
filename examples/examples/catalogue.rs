//! Prints the catalogue of everything the example service can collect,
//! generated from its code: every derived event and instrumented function,
//! with fields, types, privacy classes, metrics and source locations.
//!
//! ```text
//! cargo run --example catalogue          # Markdown
//! cargo run --example catalogue -- json  # JSON
//! ```

#[path = "shared/checkout.rs"]
#[allow(dead_code)]
mod checkout;

fn main() {
    let catalogue = telemetry_core::catalogue::Catalogue::collect();
    if std::env::args().nth(1).as_deref() == Some("json") {
        println!("{}", catalogue.to_json());
    } else {
        print!("{}", catalogue.to_markdown());
    }
}
