//! The simulated checkout service shared by the examples: typed events
//! with every field classified, and instrumented functions.

use telemetry_core::{
    Category, Counter, Histogram, Telemetry, TelemetryEvent, Value, instrument_event,
};

/// A customer completed a purchase.
#[derive(TelemetryEvent)]
#[telemetry(name = "checkout.purchase_completed", category = business, version = 2)]
pub struct PurchaseCompleted<'a> {
    /// Whose consent applies; exported only as a pseudonymous key.
    #[telemetry(subject)]
    pub customer_id: &'a str,
    /// The receipt address: exported only as a keyed hash.
    #[telemetry(hash)]
    pub email: &'a str,
    /// What was paid.
    #[telemetry(public)]
    pub amount_cents: u64,
    /// In which currency (also a metric label).
    #[telemetry(public, label)]
    pub currency: &'a str,
    /// The card's last digits: the field is named, its value never read.
    #[telemetry(redact)]
    pub card_last4: &'a str,
    /// What was bought: never captured.
    #[telemetry(skip)]
    pub cart: &'a [u64],
}

/// A customer looked at their cart.
#[derive(TelemetryEvent)]
#[telemetry(name = "checkout.cart_viewed", category = interaction)]
pub struct CartViewed {
    /// How many items are in the cart.
    #[telemetry(public)]
    pub items: u64,
}

/// The payment provider declined the card.
#[derive(Debug)]
pub struct PaymentDeclined;

impl std::fmt::Display for PaymentDeclined {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("payment declined")
    }
}

/// The service, with its own business metrics.
pub struct Checkout {
    /// The instance the service records into.
    pub telemetry: Telemetry,
    /// Orders placed, by outcome.
    pub orders: Counter,
    /// Checkout latency.
    pub latency: Histogram,
}

impl Checkout {
    /// Builds the service's instruments.
    pub fn new(telemetry: &Telemetry) -> Result<Checkout, telemetry_core::ConfigError> {
        Ok(Checkout {
            orders: telemetry
                .counter("checkout.orders", Category::BUSINESS)
                .unit("{order}")
                .attribute("outcome")
                .build()?,
            latency: telemetry
                .histogram("checkout.latency", Category::PERFORMANCE)
                .unit("ms")
                .boundaries(vec![0.01, 0.05, 0.1, 0.5, 1.0, 5.0])
                .attribute("outcome")
                .build()?,
            telemetry: telemetry.clone(),
        })
    }

    /// Places an order for `customer`: prices the cart, charges the card.
    #[instrument_event(
        name = "checkout.place_order",
        category = performance,
        subject = customer,
        fields(customer = hash, cart_items),
        err
    )]
    pub fn place_order(
        &self,
        customer: &str,
        email: &str,
        cart_items: u64,
        cart: &[u64],
    ) -> Result<u64, PaymentDeclined> {
        let t = &self.telemetry;
        let started = std::time::Instant::now();
        t.emit(&CartViewed { items: cart_items });
        let total = price_cart(cart);
        let result = charge_payment(total);
        let outcome = match &result {
            Ok(total) => {
                t.emit(&PurchaseCompleted {
                    customer_id: customer,
                    email,
                    amount_cents: *total,
                    currency: "EUR",
                    card_last4: "4242",
                    cart,
                });
                "ok"
            }
            Err(_) => "error",
        };
        self.orders.add(1, &[("outcome", Value::Str(outcome))]);
        self.latency.record(
            started.elapsed().as_secs_f64() * 1000.0,
            &[("outcome", Value::Str(outcome))],
        );
        result
    }
}

/// Sums the cart.
#[instrument_event(name = "checkout.price_cart", category = performance, ret)]
pub fn price_cart(cart: &[u64]) -> u64 {
    cart.iter().sum()
}

/// Charges the card; large amounts fail the fraud check.
#[instrument_event(name = "checkout.charge_payment", category = performance, fields(total), err)]
pub fn charge_payment(total: u64) -> Result<u64, PaymentDeclined> {
    if fraud_check(total) {
        Ok(total)
    } else {
        Err(PaymentDeclined)
    }
}

/// Decides whether an amount looks legitimate.
#[instrument_event(name = "checkout.fraud_check", category = performance)]
pub fn fraud_check(total: u64) -> bool {
    total < 50_000
}

/// The simulated run: four customers, six rounds. alice consented to
/// business and interaction data, bob to business only, carol to both but
/// revokes after round 3, dave was never asked; dave's fourth order fails
/// the fraud check.
pub fn simulate(telemetry: &Telemetry) -> Result<(), Box<dyn std::error::Error>> {
    let service = Checkout::new(telemetry)?;
    let memory = telemetry
        .gauge("process.memory.usage", Category::RESOURCE)
        .unit("By")
        .build()?;

    let consent = telemetry.consent();
    consent.grant("alice", [Category::BUSINESS, Category::INTERACTION])?;
    consent.grant("bob", Category::BUSINESS)?;
    consent.grant("carol", [Category::BUSINESS, Category::INTERACTION])?;

    let customers = [
        ("alice", "alice@example.com"),
        ("bob", "bob@example.com"),
        ("carol", "carol@example.com"),
        ("dave", "dave@example.com"),
    ];
    for round in 0..6u64 {
        for (i, (customer, email)) in customers.iter().enumerate() {
            let cart = [1299 + 100 * i as u64, 2500 * round];
            // dave's fourth order is large enough to fail the fraud check.
            let cart = if *customer == "dave" && round == 3 {
                vec![99_999]
            } else {
                cart.to_vec()
            };
            let _ = service.place_order(customer, email, cart.len() as u64, &cart);
        }
        if round == 2 {
            // carol changes her mind: what is still buffered is purged and a
            // deletion request is exported for downstream stores.
            consent.revoke("carol", [Category::BUSINESS, Category::INTERACTION])?;
        }
        memory.record(
            f64::from(u32::try_from(round).unwrap_or(0) * 1024 + 40_000_000),
            &[],
        );
    }
    Ok(())
}
