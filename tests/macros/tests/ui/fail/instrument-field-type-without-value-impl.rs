use telemetry_core::instrument_event;

struct Cart;

#[instrument_event(fields(cart))]
fn f(cart: Cart) {
    let _ = cart;
}

fn main() {}
