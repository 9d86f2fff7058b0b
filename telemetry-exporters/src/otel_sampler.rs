//! The consent-aware sampler as an OpenTelemetry `ShouldSample` (cargo
//! feature `otel-sampler`), for services that build their own
//! OpenTelemetry `SdkTracerProvider`.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use telemetry_core::{Category, Telemetry};
//! use telemetry_exporters::otel_sampler::ConsentSampler;
//!
//! let telemetry = Telemetry::builder().service("checkout", "1").build()?;
//! let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
//!     .with_sampler(ConsentSampler::new(telemetry.clone(), Category::PERFORMANCE))
//!     .build();
//! # Ok(()) }
//! ```
//!
//! A span's category is its `telemetry.category` attribute (a category
//! name) when it has one, else the sampler's default category. Consent is
//! checked for the current subject scope of the thread starting the span;
//! the probability comes from the telemetry instance's sampler, decided
//! from the trace id; a parent's decision is followed. Recorded spans get
//! `telemetry.category` and `telemetry.sample.probability` attributes.

use opentelemetry::trace::{Link, SpanKind, TraceContextExt, TraceId};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{SamplingDecision, SamplingResult, ShouldSample};
use telemetry_core::export::keys;
use telemetry_core::{Category, Telemetry};

/// See the [module docs](self).
#[derive(Clone, Debug)]
pub struct ConsentSampler {
    telemetry: Telemetry,
    default_category: Category,
}

impl ConsentSampler {
    /// A sampler deciding with `telemetry`'s consent and sampler, for spans
    /// of `default_category` unless they name another.
    pub fn new(telemetry: Telemetry, default_category: Category) -> Self {
        ConsentSampler {
            telemetry,
            default_category,
        }
    }
}

impl ShouldSample for ConsentSampler {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        trace_id: TraceId,
        _name: &str,
        _span_kind: &SpanKind,
        attributes: &[KeyValue],
        _links: &[Link],
    ) -> SamplingResult {
        let parent = parent_context
            .map(|c| c.span().span_context().clone())
            .filter(|sc| sc.is_valid());
        let category = attributes
            .iter()
            .find(|kv| kv.key.as_str() == keys::CATEGORY)
            .and_then(|kv| self.telemetry.categories().lookup(&kv.value.as_str()))
            .unwrap_or(self.default_category);
        let ours = telemetry_core::trace::TraceId(u128::from_be_bytes(trace_id.to_bytes()));
        let decision =
            self.telemetry
                .decide_span(category, ours, parent.as_ref().map(|p| p.is_sampled()));
        let trace_state = parent.map(|p| p.trace_state().clone()).unwrap_or_default();
        if !decision.keep {
            return SamplingResult {
                decision: SamplingDecision::Drop,
                attributes: Vec::new(),
                trace_state,
            };
        }
        SamplingResult {
            decision: SamplingDecision::RecordAndSample,
            attributes: vec![
                KeyValue::new(
                    keys::CATEGORY,
                    self.telemetry.categories().name(category).into_owned(),
                ),
                KeyValue::new(keys::SAMPLE_PROBABILITY, decision.probability),
            ],
            trace_state,
        }
    }
}
