#![deny(warnings)]
// The macros must not depend on names the user can shadow.
#![allow(dead_code, non_camel_case_types, clippy::all)]

use telemetry_core::{instrument_event, TelemetryEvent};

struct Result;
struct Ok;
struct Option;
struct Some;
struct Box;
struct Vec;
struct Err;
struct None;
struct String;

#[derive(TelemetryEvent)]
#[telemetry(category = business)]
struct Event<'a> {
    #[telemetry(subject)]
    who: &'a str,
    #[telemetry(public)]
    n: u64,
    #[telemetry(redact)]
    secret: &'a str,
}

#[instrument_event(fields(n), err, ret)]
fn f(n: u64) -> core::result::Result<u64, u8> {
    core::result::Result::Ok(n)
}

#[instrument_event]
async fn g() -> u64 {
    1
}

mod reexport {
    pub use telemetry_core as telemetry;
}

#[derive(TelemetryEvent)]
#[telemetry(category = business, crate = "crate::reexport::telemetry")]
struct ViaReexport {
    #[telemetry(public)]
    n: u64,
}

#[instrument_event(crate = "crate::reexport::telemetry")]
fn via_reexport() {}

fn main() {
    let _ = f(1);
    let _ = g();
    via_reexport();
}
