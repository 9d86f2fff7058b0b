//! One trace with the OpenTelemetry SDK in the same process, for a service
//! that adopts the library one piece at a time.
//!
//! - [`to_otel`] and [`from_otel`] convert span contexts both ways.
//! - [`join_otel_traces`] on the builder: a library span started while an
//!   OpenTelemetry span is current, and no library span is, becomes a child
//!   of the OpenTelemetry span (same trace id; its sampled flag decides).
//! - [`BridgedTracerProvider`] wraps the service's tracer provider (an
//!   `SdkTracerProvider`, or any other): an OpenTelemetry span started while
//!   a library span is current, and no OpenTelemetry span is, becomes a
//!   child of the library span.
//! - Sampling: give the SDK the library's decision with
//!   [`ConsentSampler`](crate::otel_sampler::ConsentSampler) (feature
//!   `otel-sampler`), or make the library decide as the SDK's stock
//!   `TraceIdRatioBased` does with
//!   [`TraceIdRule::OtelRustSdk`](telemetry_core::trace::TraceIdRule::OtelRustSdk).
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use opentelemetry::trace::{Tracer, TracerProvider};
//! use telemetry_exporters::otel_bridge::{BridgedTracerProvider, join_otel_traces};
//!
//! let telemetry = join_otel_traces(telemetry_core::Telemetry::builder().service("shop", "1"))
//!     .install()?;
//! let provider = BridgedTracerProvider::new(opentelemetry_sdk::trace::SdkTracerProvider::builder().build());
//! let tracer = provider.tracer("shop");
//! let checkout = telemetry.span("checkout", telemetry_core::Category::PERFORMANCE);
//! let _entered = checkout.enter();
//! tracer.in_span("sdk work", |_| {}); // a child of `checkout`, in its trace
//! # Ok(()) }
//! ```
//!
//! Each system's own current span is the parent of its own new spans; a
//! span joins the other system's current span only when its own system has
//! none. A library span started inside an OpenTelemetry span that is itself
//! inside a library span is a child of the outer library span: one trace,
//! one parent per system. The OpenTelemetry child of a library span records
//! its parent as remote (the SDK's only way to take a parent it did not
//! create).

use opentelemetry::trace::{
    SpanBuilder, SpanContext as OtelSpanContext, SpanId as OtelSpanId, TraceContextExt, TraceFlags,
    TraceId as OtelTraceId, TraceState, Tracer, TracerProvider,
};
use opentelemetry::{Context, InstrumentationScope};
use telemetry_core::TelemetryBuilder;
use telemetry_core::trace::{SpanContext, SpanId, TraceId};

/// Our span context as OpenTelemetry's (sampled flag, remote flag; no
/// trace state).
pub fn to_otel(sc: &SpanContext) -> OtelSpanContext {
    OtelSpanContext::new(
        OtelTraceId::from_bytes(sc.trace_id.to_bytes()),
        OtelSpanId::from_bytes(sc.span_id.to_bytes()),
        if sc.sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        },
        sc.remote,
        TraceState::default(),
    )
}

/// OpenTelemetry's span context as ours (`None` when it is invalid). The
/// probability is not known from the context: 1.0, as for a remote
/// parent.
pub fn from_otel(sc: &OtelSpanContext) -> Option<SpanContext> {
    if !sc.is_valid() {
        return None;
    }
    Some(SpanContext::new(
        TraceId(u128::from_be_bytes(sc.trace_id().to_bytes())),
        SpanId(u64::from_be_bytes(sc.span_id().to_bytes())),
        sc.is_sampled(),
        sc.is_remote(),
    ))
}

/// The OpenTelemetry span current on this thread, as ours.
fn otel_current() -> Option<SpanContext> {
    Context::map_current(|cx| {
        if cx.has_active_span() {
            from_otel(cx.span().span_context())
        } else {
            None
        }
    })
}

/// Makes library spans with no library parent join the current
/// OpenTelemetry span's trace, as its children.
pub fn join_otel_traces(builder: TelemetryBuilder) -> TelemetryBuilder {
    builder.external_parent(otel_current)
}

/// A tracer provider whose spans join the current library span's trace
/// when no OpenTelemetry span is current (see the module docs).
#[derive(Clone, Debug)]
pub struct BridgedTracerProvider<P> {
    inner: P,
}

impl<P> BridgedTracerProvider<P> {
    /// Wraps `inner`.
    pub fn new(inner: P) -> Self {
        BridgedTracerProvider { inner }
    }

    /// The wrapped provider (to flush or shut it down).
    pub fn inner(&self) -> &P {
        &self.inner
    }
}

impl<P: TracerProvider> TracerProvider for BridgedTracerProvider<P> {
    type Tracer = BridgedTracer<P::Tracer>;

    fn tracer_with_scope(&self, scope: InstrumentationScope) -> Self::Tracer {
        BridgedTracer {
            inner: self.inner.tracer_with_scope(scope),
        }
    }
}

/// A tracer of a [`BridgedTracerProvider`].
#[derive(Clone, Debug)]
pub struct BridgedTracer<T> {
    inner: T,
}

impl<T: Tracer> Tracer for BridgedTracer<T> {
    type Span = T::Span;

    fn build_with_context(&self, builder: SpanBuilder, parent_cx: &Context) -> Self::Span {
        if !parent_cx.has_active_span()
            && let Some(ours) = SpanContext::current()
        {
            let cx = parent_cx.with_remote_span_context(to_otel(&ours));
            return self.inner.build_with_context(builder, &cx);
        }
        self.inner.build_with_context(builder, parent_cx)
    }
}
