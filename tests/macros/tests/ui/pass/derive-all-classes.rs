use telemetry_core::TelemetryEvent;

/// A customer completed a purchase.
#[derive(TelemetryEvent)]
#[telemetry(name = "checkout.purchase_completed", category = business, version = 2)]
struct PurchaseCompleted<'a> {
    #[telemetry(subject)]
    customer_id: &'a str,
    #[telemetry(hash)]
    email: &'a str,
    #[telemetry(public, label)]
    amount_cents: u64,
    #[telemetry(redact)]
    card_last4: &'a str,
    #[telemetry(skip)]
    _cart: &'a Vec<u32>,
    #[telemetry(public, rename = "currency_code")]
    currency: String,
}

fn main() {
    use telemetry_core::TelemetryEvent as _;
    let cart = vec![1];
    let e = PurchaseCompleted { customer_id: "c", email: "e", amount_cents: 1, card_last4: "4242", _cart: &cart, currency: "EUR".into() };
    assert_eq!(e.subject(), Some("c"));
    let schema = <PurchaseCompleted<'_> as telemetry_core::TelemetryEvent>::SCHEMA;
    assert_eq!(schema.fields.len(), 5);
    assert_eq!(schema.fields[4].name, "currency_code");
}
