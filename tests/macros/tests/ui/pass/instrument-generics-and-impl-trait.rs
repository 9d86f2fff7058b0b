use telemetry_core::instrument_event;

use std::fmt::Display;

#[instrument_event(fields(label))]
fn generic<T, U: Clone>(value: T, other: &U, label: &str) -> String
where
    T: Display,
{
    let _ = other.clone();
    format!("{label}{value}")
}

#[instrument_event]
fn with_lifetimes<'a, 'b: 'a>(a: &'a str, _b: &'b str) -> &'a str {
    a
}

#[instrument_event]
fn impl_arg(items: impl IntoIterator<Item = u32>) -> u32 {
    items.into_iter().sum()
}

#[instrument_event]
fn impl_return(n: u32) -> impl Iterator<Item = u32> {
    0..n
}

#[instrument_event(err)]
fn generic_result<E: std::fmt::Debug>(e: Option<E>) -> Result<(), E> {
    match e {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn main() {
    assert_eq!(generic(1, &2u8, "x"), "x1");
    assert_eq!(with_lifetimes("a", "b"), "a");
    assert_eq!(impl_arg(vec![1, 2]), 3);
    assert_eq!(impl_return(3).count(), 3);
    assert!(generic_result::<u8>(None).is_ok());
}
