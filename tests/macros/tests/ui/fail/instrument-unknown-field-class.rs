use telemetry_core::instrument_event;

#[instrument_event(fields(customer = encrypt))]
fn f(customer: &str) -> usize {
    customer.len()
}

fn main() {}
