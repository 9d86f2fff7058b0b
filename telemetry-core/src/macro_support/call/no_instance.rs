//! Calls of instrumented functions that found no telemetry instance (none
//! installed, no default set on their thread): counted process-wide and
//! reported as `telemetry.calls.without_instance`; the first one prints a
//! hint.

/// Calls of instrumented functions that found no telemetry instance (none
/// installed, no default set on their thread).
static CALLS_WITHOUT_INSTANCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Writes the count of calls without an instance (process-wide) into `out`.
pub(crate) fn report_calls_without_instance(out: &mut crate::health::own_metrics::OwnMetrics<'_>) {
    use std::sync::atomic::Ordering;
    let without = CALLS_WITHOUT_INSTANCE.load(Ordering::Relaxed);
    if without > 0 {
        out.counts(
            (
                "telemetry.calls.without_instance",
                "Calls of #[instrument_event] functions that found no telemetry instance (before install).",
                "{call}",
            ),
            [(Vec::new(), without)],
        );
    }
}

/// Counts a call that found no instance; the first one prints a hint.
#[cold]
pub(super) fn no_instance(function: &str) {
    use std::sync::atomic::Ordering;
    if CALLS_WITHOUT_INSTANCE.fetch_add(1, Ordering::Relaxed) == 0 {
        eprintln!(
            "telemetry: `{function}` (#[instrument_event]) ran before any telemetry instance was \
             installed, so it recorded nothing; call `.install()` on the builder in `main`, or \
             `telemetry.set_default()` in a test (calls without an instance are counted in \
             `telemetry.calls.without_instance`)"
        );
    }
}
