use telemetry_core::instrument_event;

#[instrument_event(objective(success = 99.9, latency_ms = 300))]
fn not_a_bound() {}

#[instrument_event(objective(success = 100))]
fn not_a_percentage() {}

#[instrument_event(objective(latency_percentile = 99))]
fn percentile_alone() {}

#[instrument_event(objective(succes = 99.9))]
fn misspelled() {}

fn main() {}
