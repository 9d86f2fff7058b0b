//! `#[derive(TelemetryValue)]` on newtypes (tuple, named, generic) and on an
//! enum of unit variants; the new built-in value types as event fields.
use telemetry_core::{FieldType, TelemetryEvent, TelemetryValue, Value};

#[derive(TelemetryValue)]
struct UserId(u64);

#[derive(TelemetryValue)]
struct Email {
    address: String,
}

#[derive(TelemetryValue)]
struct Wrapper<T>(T);

#[derive(TelemetryValue)]
enum Plan {
    Free,
    Pro,
    r#Enterprise,
}

#[derive(TelemetryEvent)]
#[telemetry(category = business)]
struct Upgraded {
    #[telemetry(public)]
    user: UserId,
    #[telemetry(hash)]
    email: Email,
    #[telemetry(public)]
    plan: Plan,
    #[telemetry(public)]
    big: Wrapper<u128>,
    #[telemetry(public)]
    initial: char,
    #[telemetry(hash)]
    token: [u8; 4],
}

fn main() {
    assert_eq!(UserId(7).to_value(), Value::U64(7));
    assert_eq!(<UserId as TelemetryValue>::TYPE, FieldType::UInt);
    assert_eq!(Email { address: "a@b".into() }.to_value(), Value::Str("a@b"));
    assert_eq!(Plan::Pro.to_value(), Value::Str("Pro"));
    assert_eq!(Plan::r#Enterprise.to_value(), Value::Str("Enterprise"));
    let _ = Plan::Free;
    assert_eq!(<Plan as TelemetryValue>::TYPE, FieldType::String);
    assert_eq!(Wrapper(5u128).to_value(), Value::U128(5));
    let s = <Upgraded as TelemetryEvent>::SCHEMA;
    assert_eq!(s.fields.len(), 6);
    assert_eq!(s.fields[1].ty, FieldType::String);
}
