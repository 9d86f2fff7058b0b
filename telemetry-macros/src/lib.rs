//! # telemetry-macros
//!
//! `#[instrument_event]`, `#[derive(TelemetryEvent)]` and
//! `#[derive(TelemetryValue)]` for
//! `telemetry-core`. Use them through
//! `telemetry-core`, which re-exports both (cargo feature `macros`, on by
//! default); the generated code refers to `::telemetry_core` (override with
//! `crate = "path"` when you re-export the library).
//!
//! ```ignore
//! use telemetry_core::{instrument_event, TelemetryEvent};
//!
//! /// A customer completed a purchase.
//! #[derive(TelemetryEvent)]
//! #[telemetry(name = "checkout.purchase_completed", category = business, version = 2)]
//! struct PurchaseCompleted<'a> {
//!     #[telemetry(subject)] customer_id: &'a str,
//!     #[telemetry(hash)]    email: &'a str,
//!     #[telemetry(public)]  amount_cents: u64,
//!     #[telemetry(redact)]  card_last4: &'a str,
//! }
//!
//! #[instrument_event(name = "checkout.place_order", category = performance, fields(customer = hash, total_cents), err)]
//! fn place_order(customer: &str, total_cents: u64) -> Result<u64, CheckoutError> { /* .. */ }
//! ```
//!
//! This crate has no cargo features.

mod common;
mod errors;
mod event;
mod impl_block;
mod instrument;
mod value;

use proc_macro::TokenStream;

/// Derives `TelemetryEvent` for a struct whose every field is classified.
///
/// Container: `#[telemetry(name = "..", category = business, version = 2,
/// default = skip, crate = "..")]`; `category` is required, `name` defaults
/// to the type name in snake case, `version` to 1, and without `default`
/// every field must be classified.
///
/// Fields: `#[telemetry(public)]`, `hash`, `redact`, `skip`, or `subject`
/// (whose consent applies; turned into a pseudonymous key, never
/// exported); plus `rename = ".."` and `label` (usable as a metric
/// attribute: public fields only).
#[proc_macro_derive(TelemetryEvent, attributes(telemetry))]
pub fn derive_telemetry_event(input: TokenStream) -> TokenStream {
    match syn::parse::<syn::DeriveInput>(input) {
        Ok(input) => event::expand(input).into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// Derives `TelemetryValue`, so a type of your own can be an event field or
/// a recorded argument: a newtype (`struct UserId(u64)`, or one named
/// field) records the value it wraps, with its type; an enum of unit
/// variants records the variant's name as a string. `#[telemetry(crate =
/// "..")]` as for the other derive.
#[proc_macro_derive(TelemetryValue, attributes(telemetry))]
pub fn derive_telemetry_value(input: TokenStream) -> TokenStream {
    match syn::parse::<syn::DeriveInput>(input) {
        Ok(input) => value::expand(input).into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// Instruments a function: a span (child of the current one) with status
/// from `Err`, a call counter and a duration histogram labelled with the
/// outcome, and with `err` an `exception` event in the errors category.
///
/// Arguments: `name = ".."` (default: the function name), `category = ..`
/// (default `performance`), `fields(arg, other = hash, ..)` (arguments are
/// recorded only when listed; `public` unless a class is given), `err` or
/// `err(message = class)` (the message's privacy class: `public`, `hash`,
/// `redact`), `ret` or `ret = hash`, `subject = arg` (opens the consent
/// scope from an argument), `objective(success = 99.9, latency_ms = 250,
/// latency_percentile = 99)`, `crate = ".."`.
///
/// On an `impl` block (no arguments), it names the instrumented methods
/// inside it `Type::method` (unless they give a `name`; this example is
/// compiled as a test in `tests/macros`):
///
/// ```ignore
/// use telemetry_core::instrument_event;
/// struct Document;
/// #[instrument_event]
/// impl Document {
///     /// Recorded as `Document::get`.
///     #[instrument_event]
///     fn get(&self) -> u32 { 7 }
/// }
/// ```
///
/// When consent is denied or the call is sampled out, the function runs
/// with no span, no clock read and no argument read.
#[proc_macro_attribute]
pub fn instrument_event(args: TokenStream, item: TokenStream) -> TokenStream {
    instrument::expand_if(cfg!(feature = "instrument"), args.into(), item.into()).into()
}
