use telemetry_core::TelemetryEvent;

struct Cart;

#[derive(TelemetryEvent)]
#[telemetry(category = business)]
struct E {
    #[telemetry(public)]
    cart: Cart,
}

fn main() {}
