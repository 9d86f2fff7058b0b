//! What the layer sees: routes, internal targets, suppression, consent and
//! the parent's sampling decision, decided per callsite and then per span
//! or event; as a per-layer filter or, for `build_exclusive`, a global one.

use std::fmt;
use std::sync::Arc;

use tracing_core::span::{Attributes, Id, Record as SpanValues};
use tracing_core::subscriber::Interest;
use tracing_core::{Event, LevelFilter, Metadata, Subscriber};
use tracing_subscriber::layer::{self, Filter, Layer};
use tracing_subscriber::registry::LookupSpan;

use super::TracingLayer;
use super::routes::Routes;
use crate::subject::context::suppressed;
use crate::telemetry::Telemetry;

/// Decides, per callsite and then per span or event, whether the layer
/// sees it: routes, internal targets, suppression, consent and the parent's
/// sampling decision.
pub struct RouteFilter {
    pub(super) telemetry: Telemetry,
    pub(super) routes: Arc<Routes>,
}

impl fmt::Debug for RouteFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RouteFilter")
    }
}

impl RouteFilter {
    /// Whether the layer collects this span or event: routed, not on a
    /// suppressed thread, consented, and not inside a sampled-out span.
    /// Drops are counted by cause.
    #[inline]
    fn admits(&self, meta: &Metadata<'_>) -> bool {
        let Some(category) = self.routes.category_of_any(meta) else {
            return false;
        };
        // Before consent, so the exporters' own traffic is not counted.
        if suppressed() {
            return false;
        }
        self.telemetry.inner.admit_tracing(category, meta.is_span())
    }

    fn interest(&self, meta: &'static Metadata<'static>) -> Interest {
        if self.routes.category_of(meta).is_some() {
            // Consent changes per subject: ask per span and event.
            Interest::sometimes()
        } else {
            Interest::never()
        }
    }

    fn level_hint(&self) -> Option<LevelFilter> {
        Some(
            self.routes
                .max_level()
                .map_or(LevelFilter::OFF, LevelFilter::from_level),
        )
    }
}

impl<S> Filter<S> for RouteFilter {
    #[inline]
    fn enabled(&self, meta: &Metadata<'_>, _cx: &layer::Context<'_, S>) -> bool {
        self.admits(meta)
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        self.interest(meta)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        self.level_hint()
    }
}

/// The layer with its routes as a global filter, as
/// [`TracingLayerBuilder::build_exclusive`](super::TracingLayerBuilder::build_exclusive) returns it.
pub struct ExclusiveTracingLayer {
    pub(super) layer: TracingLayer,
    pub(super) filter: RouteFilter,
}

impl fmt::Debug for ExclusiveTracingLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ExclusiveTracingLayer")
    }
}

impl<S> Layer<S> for ExclusiveTracingLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        self.filter.interest(meta)
    }

    #[inline]
    fn enabled(&self, meta: &Metadata<'_>, _ctx: layer::Context<'_, S>) -> bool {
        self.filter.admits(meta)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        self.filter.level_hint()
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: layer::Context<'_, S>) {
        self.layer.on_new_span(attrs, id, ctx);
    }

    fn on_record(&self, id: &Id, values: &SpanValues<'_>, ctx: layer::Context<'_, S>) {
        self.layer.on_record(id, values, ctx);
    }

    fn on_enter(&self, id: &Id, ctx: layer::Context<'_, S>) {
        self.layer.on_enter(id, ctx);
    }

    fn on_exit(&self, id: &Id, ctx: layer::Context<'_, S>) {
        self.layer.on_exit(id, ctx);
    }

    fn on_close(&self, id: Id, ctx: layer::Context<'_, S>) {
        self.layer.on_close(id, ctx);
    }

    fn on_event(&self, event: &Event<'_>, ctx: layer::Context<'_, S>) {
        self.layer.on_event(event, ctx);
    }
}
