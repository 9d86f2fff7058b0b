//! The typed events the service records, each field classified.

use telemetry_core::TelemetryEvent;

/// A customer placed an order (business data: opt-in).
#[derive(TelemetryEvent)]
#[telemetry(name = "shop.order_placed", category = business)]
pub struct OrderPlaced<'a> {
    /// Whose consent applies; exported only as a pseudonymous key.
    #[telemetry(subject)]
    pub customer: &'a str,
    /// Kept only as a keyed hash.
    #[telemetry(hash)]
    pub email: &'a str,
    /// The product.
    #[telemetry(public)]
    pub sku: &'a str,
    /// What the order costs.
    #[telemetry(public)]
    pub amount_cents: u64,
}

/// A customer showed interest in a product (interaction data: opt-out).
#[derive(TelemetryEvent)]
#[telemetry(name = "shop.product_interest", category = interaction)]
pub struct ProductInterest<'a> {
    /// The product.
    #[telemetry(public)]
    pub sku: &'a str,
    /// How many.
    #[telemetry(public)]
    pub quantity: u64,
}

/// A person clicked a declared element of a page (interaction data: sent
/// by the browser through the privacy center's endpoint).
#[derive(TelemetryEvent)]
#[telemetry(name = "shop.click", category = interaction)]
pub struct Click<'a> {
    /// Which element (its declared name, never its text).
    #[telemetry(public)]
    pub target: &'a str,
    /// The page's template name.
    #[telemetry(public)]
    pub page: &'a str,
}
