//! The `tracing` span an instrumented function opens for other `tracing`
//! layers (feature `tracing`), or nothing without the feature.

use std::future::Future;

/// `tracing` re-exported for the mirror span macros.
#[cfg(feature = "tracing")]
pub use tracing;

/// The `tracing` span an instrumented function opens for other `tracing`
/// layers (feature `tracing`): `None` when no subscriber wants INFO spans
/// at all, so that case costs one static load.
#[cfg(feature = "tracing")]
pub type Mirror = Option<tracing::Span>;
/// The `tracing` span an instrumented function opens for other `tracing`
/// layers (feature `tracing`), or nothing.
#[cfg(not(feature = "tracing"))]
#[derive(Copy, Clone, Debug)]
pub struct Mirror;

/// Enters the mirror span until the guard drops.
#[cfg(feature = "tracing")]
#[inline]
pub fn mirror_enter(mirror: &Mirror) -> Option<tracing::span::Entered<'_>> {
    mirror.as_ref().map(tracing::Span::enter)
}
/// Enters the mirror span until the guard drops.
#[cfg(not(feature = "tracing"))]
#[inline(always)]
pub fn mirror_enter(_: &Mirror) -> MirrorEntered {
    MirrorEntered
}

/// What [`mirror_enter`] returns without the `tracing` feature.
#[cfg(not(feature = "tracing"))]
#[derive(Debug)]
pub struct MirrorEntered;

/// Runs `future` inside the mirror span.
#[cfg(feature = "tracing")]
#[inline]
pub fn mirror_instrument<F: Future>(
    future: F,
    mirror: Mirror,
) -> tracing::instrument::Instrumented<F> {
    tracing::Instrument::instrument(future, mirror.unwrap_or_else(tracing::Span::none))
}
/// Runs `future` inside the mirror span.
#[cfg(not(feature = "tracing"))]
#[inline(always)]
pub fn mirror_instrument<F: Future>(future: F, _: Mirror) -> F {
    future
}

/// Opens the mirror span of an instrumented function (feature `tracing`):
/// an INFO span named after the function, in the caller's module, marked so
/// the library's own layer does not record it twice.
#[cfg(feature = "tracing")]
#[doc(hidden)]
#[macro_export]
macro_rules! __telemetry_mirror_span {
    ($name:literal) => {
        if $crate::__private::tracing::level_enabled!($crate::__private::tracing::Level::INFO) {
            ::core::option::Option::Some($crate::__private::tracing::span!(
                target: ::core::module_path!(),
                $crate::__private::tracing::Level::INFO,
                $name,
                telemetry.mirror = $crate::__private::tracing::field::Empty
            ))
        } else {
            ::core::option::Option::None
        }
    };
}

/// Opens the mirror span of an instrumented function: nothing without the
/// `tracing` feature.
#[cfg(not(feature = "tracing"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __telemetry_mirror_span {
    ($name:literal) => {
        $crate::__private::Mirror
    };
}
