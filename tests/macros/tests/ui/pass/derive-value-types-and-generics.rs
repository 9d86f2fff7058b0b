use telemetry_core::TelemetryEvent;

use std::borrow::Cow;
use std::time::{Duration, SystemTime};
use telemetry_core::{FieldType, TelemetryValue, Value};

enum Currency { Eur }
impl TelemetryValue for Currency {
    const TYPE: FieldType = FieldType::String;
    fn to_value(&self) -> Value<'_> { match self { Currency::Eur => Value::Str("EUR") } }
}

#[derive(TelemetryEvent)]
#[telemetry(category = performance)]
struct AllTypes<'a, T: TelemetryValue, U>
where
    U: TelemetryValue + Clone,
{
    #[telemetry(public)] a: i8,
    #[telemetry(public)] b: u64,
    #[telemetry(public)] c: f32,
    #[telemetry(public)] d: bool,
    #[telemetry(public)] e: &'a str,
    #[telemetry(public)] f: String,
    #[telemetry(public)] g: Cow<'a, str>,
    #[telemetry(public)] h: Option<u32>,
    #[telemetry(public)] i: Duration,
    #[telemetry(public)] j: SystemTime,
    #[telemetry(public)] k: Currency,
    #[telemetry(hash)] t: T,
    #[telemetry(public)] u: U,
    #[telemetry(public)] v: isize,
}

fn main() {
    let s = <AllTypes<'_, u8, bool> as telemetry_core::TelemetryEvent>::SCHEMA;
    assert_eq!(s.name, "all_types");
    assert_eq!(s.fields[10].ty, FieldType::String);
    assert_eq!(s.fields[8].ty, FieldType::Duration);
}
