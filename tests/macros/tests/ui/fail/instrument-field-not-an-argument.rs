use telemetry_core::instrument_event;

#[instrument_event(fields(user))]
fn f(customer: &str) -> usize {
    customer.len()
}

fn main() {}
