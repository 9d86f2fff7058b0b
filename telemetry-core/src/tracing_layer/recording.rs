//! What the layer does with what its filter admits: a `tracing` span
//! becomes a span of this library (kept in the span's extensions), entering
//! it makes it the current span, and an event runs the whole gate and
//! becomes a log record.

use std::borrow::Cow;
use std::cell::RefCell;

use tracing_core::span::{Attributes, Id, Record as SpanValues};
use tracing_core::{Event, Level, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_subscriber::layer::{self, Layer};
use tracing_subscriber::registry::LookupSpan;

use crate::consent::gate::Who;
use crate::export::Severity;
use crate::privacy::AttrBuilder;
use crate::subject::context::{fast_span, swap_span};
use crate::trace::SpanContext;
use crate::trace::span::Span;

use super::TracingLayer;
use super::fields::{Capture, EventSink, SpanSink};

/// The span this library keeps for a `tracing` span, in its extensions.
struct Recorded {
    span: Span,
}

thread_local! {
    /// The current spans that entering `tracing` spans replaced, innermost
    /// last, restored on exit.
    static ENTERED: RefCell<Vec<Option<SpanContext>>> = const { RefCell::new(Vec::new()) };
}

fn severity(level: &Level) -> Severity {
    match *level {
        Level::TRACE => Severity::Trace,
        Level::DEBUG => Severity::Debug,
        Level::INFO => Severity::Info,
        Level::WARN => Severity::Warn,
        _ => Severity::Error,
    }
}

impl TracingLayer {
    /// The span context of the `tracing` span `id`, if this layer records it.
    fn context_of<S>(id: &Id, ctx: &layer::Context<'_, S>) -> Option<SpanContext>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        ctx.span(id)?
            .extensions()
            .get::<Recorded>()
            .and_then(|r| r.span.context())
    }

    /// The parent of a new span or event: for an explicit parent, the
    /// nearest ancestor (itself included) this layer records, else none;
    /// otherwise the current span (which entered `tracing` spans and
    /// `#[instrument_event]` calls alike set), or none for an explicit root.
    fn parent_of<S>(
        explicit: Option<&Id>,
        contextual: bool,
        ctx: &layer::Context<'_, S>,
    ) -> Option<SpanContext>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        match explicit {
            Some(id) => ctx.span(id)?.scope().find_map(|ancestor| {
                ancestor
                    .extensions()
                    .get::<Recorded>()
                    .and_then(|r| r.span.context())
            }),
            None if contextual => fast_span(),
            None => None,
        }
    }
}

impl<S> Layer<S> for TracingLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: layer::Context<'_, S>) {
        let meta = attrs.metadata();
        let Some(category) = self.routes.category_of(meta) else {
            return;
        };
        let Some(span_ref) = ctx.span(id) else {
            return;
        };
        if span_ref.extensions().get::<Recorded>().is_some() {
            // Another `TracingLayer` on the same subscriber records it.
            return;
        }
        let parent = Self::parent_of(attrs.parent(), attrs.is_contextual(), &ctx);
        let mut span = Span::start(
            &self.telemetry.inner,
            || Cow::Borrowed(meta.name()),
            category,
            || parent,
        );
        if span.is_recording() {
            let mut sink = SpanSink(&mut span);
            attrs.record(&mut Capture {
                rules: &self.fields,
                sink: &mut sink,
                buf: String::new(),
            });
        }
        span_ref.extensions_mut().insert(Recorded { span });
    }

    fn on_record(&self, id: &Id, values: &SpanValues<'_>, ctx: layer::Context<'_, S>) {
        let Some(span_ref) = ctx.span(id) else {
            return;
        };
        // Take the span out while the values (user `Debug` code, which may
        // enter this very span) are read, so no lock is held meanwhile.
        let Some(mut recorded) = span_ref.extensions_mut().remove::<Recorded>() else {
            return;
        };
        if recorded.span.is_recording() {
            let mut sink = SpanSink(&mut recorded.span);
            values.record(&mut Capture {
                rules: &self.fields,
                sink: &mut sink,
                buf: String::new(),
            });
        }
        span_ref.extensions_mut().insert(recorded);
    }

    fn on_enter(&self, id: &Id, ctx: layer::Context<'_, S>) {
        let entered = Self::context_of(id, &ctx);
        let previous = match entered {
            Some(c) => swap_span(Some(c)),
            None => fast_span(),
        };
        let _ = ENTERED.try_with(|stack| {
            if let Ok(mut stack) = stack.try_borrow_mut() {
                stack.push(previous);
            }
        });
    }

    fn on_exit(&self, _id: &Id, _ctx: layer::Context<'_, S>) {
        let previous = ENTERED
            .try_with(|stack| stack.try_borrow_mut().ok().and_then(|mut s| s.pop()))
            .ok()
            .flatten();
        if let Some(previous) = previous {
            swap_span(previous);
        }
    }

    fn on_close(&self, id: Id, ctx: layer::Context<'_, S>) {
        let Some(span_ref) = ctx.span(&id) else {
            return;
        };
        // Dropping the span ends it into the export queue.
        let recorded = span_ref.extensions_mut().remove::<Recorded>();
        drop(recorded);
    }

    fn on_event(&self, event: &Event<'_>, ctx: layer::Context<'_, S>) {
        // A `log` record bridged by `tracing-log` has a shared callsite;
        // its own target and level are in the normalized metadata.
        let normalized = event.normalized_metadata();
        let meta = match &normalized {
            Some(m) => m,
            None => event.metadata(),
        };
        let category = match &normalized {
            Some(m) => self.routes.category_of_any(m),
            None => self.routes.category_of(event.metadata()),
        };
        let Some(category) = category else {
            return;
        };
        let parent = Self::parent_of(event.parent(), event.is_contextual(), &ctx);
        let severity = severity(meta.level());
        let inner = &*self.telemetry.inner;
        let Some(admitted) = inner.admit_event(category, severity, Who::Current, || parent) else {
            return;
        };
        let mut sink = EventSink {
            keys: inner.keys(),
            limits: inner.limits(),
            attrs: AttrBuilder::new(
                inner.limits(),
                meta.fields().len(),
                admitted.consented.anonymous,
            ),
            body: None,
        };
        event.record(&mut Capture {
            rules: &self.fields,
            sink: &mut sink,
            buf: String::new(),
        });
        let name = if normalized.is_some() {
            Cow::Borrowed("log")
        } else {
            Cow::Borrowed(event.metadata().name())
        };
        inner.push_log(
            admitted,
            name,
            category,
            severity,
            0,
            sink.body,
            &mut sink.attrs,
        );
    }
}
