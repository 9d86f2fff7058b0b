//! How a call ended and what it returned, read from the return value's
//! type at compile time, plus the small checks generated code makes.

use crate::value::{TelemetryValue, Value};

/// How a call ended.
#[derive(Copy, Clone, Debug)]
pub enum Outcome {
    /// Not an `Err`.
    Ok,
    /// An `Err` of this type.
    Err(&'static str),
    /// The call panicked (the instrumentation saw it unwind).
    Panic,
    /// The call's future was dropped before it completed.
    Cancelled,
}

impl Outcome {
    /// The `outcome` attribute of the call metrics.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Err(_) => "error",
            Outcome::Panic => "panic",
            Outcome::Cancelled => "cancelled",
        }
    }
}

/// The outcome of a `Result` return value. Generated code calls
/// `(&result).__telemetry_outcome()` with this trait and [`OutcomeOfAny`] in
/// scope: method resolution picks this one for a `Result` and the other for
/// any other type (autoref specialisation).
pub trait OutcomeOfResult {
    /// The outcome.
    fn __telemetry_outcome(&self) -> Outcome;
}

impl<T, E> OutcomeOfResult for Result<T, E> {
    #[inline]
    fn __telemetry_outcome(&self) -> Outcome {
        match self {
            Ok(_) => Outcome::Ok,
            Err(_) => Outcome::Err(std::any::type_name::<E>()),
        }
    }
}

/// The outcome of a return value that is not a `Result`: always ok.
pub trait OutcomeOfAny {
    /// The outcome.
    fn __telemetry_outcome(&self) -> Outcome;
}

impl<T: ?Sized> OutcomeOfAny for &T {
    #[inline]
    fn __telemetry_outcome(&self) -> Outcome {
        Outcome::Ok
    }
}

/// The value recorded by `ret`: the value itself, or a `Result`'s `Ok` value.
pub trait RetValue {
    /// Calls `f` with the value to record.
    fn with_value(&self, f: impl FnOnce(Value<'_>));
}

impl<T: TelemetryValue> RetValue for T {
    fn with_value(&self, f: impl FnOnce(Value<'_>)) {
        f(self.to_value())
    }
}

impl<T: TelemetryValue, E> RetValue for Result<T, E> {
    fn with_value(&self, f: impl FnOnce(Value<'_>)) {
        if let Ok(v) = self {
            f(v.to_value())
        }
    }
}

/// The text of a derived event's subject field, if it is stored as text.
#[inline]
pub fn subject_text<S: crate::SubjectId + ?Sized>(s: &S) -> Option<&str> {
    s.as_text()
}

/// Calls `f` with the text of a subject id (`subject = arg`, a derived
/// event's subject field).
#[inline]
pub fn with_subject_id<S: crate::SubjectId + ?Sized, R, F: FnOnce(&str) -> R>(s: &S, f: F) -> R {
    s.with_text(f)
}

/// Compile-time check that `err` is used on a function returning `Result`.
#[diagnostic::on_unimplemented(
    message = "`err` records the `Err` of a `Result`, but this function returns `{Self}`",
    label = "not a `Result`",
    note = "remove `err`, or return a `Result`"
)]
pub trait IsResult {}
impl<T, E> IsResult for Result<T, E> {}

/// Asserts `R: IsResult`.
#[inline(always)]
pub fn assert_result<R: IsResult + ?Sized>(_: &R) {}
