//! The client events this crate defines: web vitals, which every page that
//! loads the snippet can send. A service declares its own interaction
//! events with `#[derive(TelemetryEvent)]` and accepts them with
//! [`PrivacyCenterBuilder::accept`](crate::PrivacyCenterBuilder::accept).

use telemetry_core::TelemetryEvent;

/// A web vital the browser measured on a page: how fast its main content
/// appeared (`LCP`, `FCP`), how much the layout moved (`CLS`), how quickly
/// it answered input (`INP`) and how fast the server answered (`TTFB`).
#[derive(TelemetryEvent)]
#[telemetry(name = "web.vital", category = performance)]
pub struct WebVital<'a> {
    /// Which vital: `LCP`, `FCP`, `CLS`, `INP` or `TTFB`.
    #[telemetry(public)]
    pub metric: &'a str,
    /// Its value: milliseconds, or the layout-shift score for `CLS`.
    #[telemetry(public)]
    pub value: f64,
    /// `good`, `needs-improvement` or `poor`, by the published thresholds.
    #[telemetry(public)]
    pub rating: &'a str,
    /// The page's template name (the page declares it; never its URL,
    /// which may hold ids).
    #[telemetry(public)]
    pub page: &'a str,
}
