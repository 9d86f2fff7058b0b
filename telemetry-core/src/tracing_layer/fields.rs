//! How the fields of `tracing` spans and events are classified and captured.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::{self, Write as _};

use tracing_core::field::{Field, Visit};

use crate::export::SpanKind;
use crate::privacy::AttrBuilder;
use crate::privacy::{FieldClass, KeyRing, Limits};
use crate::trace::span::Span;
use crate::value::Value;

/// The privacy class of each field name, and the class of every other field.
pub(crate) struct FieldRules {
    /// Sorted by name: a binary search over a few short strings beats
    /// hashing each field name.
    classes: Vec<(Box<str>, FieldClass)>,
    default: FieldClass,
}

impl FieldRules {
    /// Rules from `classes` (names unique), with `default` for the rest.
    pub(crate) fn new(classes: HashMap<Box<str>, FieldClass>, default: FieldClass) -> Self {
        let mut classes: Vec<_> = classes.into_iter().collect();
        classes.sort_by(|a, b| a.0.cmp(&b.0));
        FieldRules { classes, default }
    }

    #[inline]
    pub(crate) fn class(&self, name: &str) -> FieldClass {
        match self.classes.binary_search_by(|(k, _)| (**k).cmp(name)) {
            Ok(i) => self.classes[i].1,
            Err(_) => self.default,
        }
    }
}

/// Where captured field values go.
pub(crate) trait Sink {
    /// One field value, with its class. `value` is only read for public and
    /// hashed fields.
    fn put(&mut self, key: &'static str, class: FieldClass, value: Value<'_>);

    /// A field that is not data but tells the span how to export (the
    /// `otel.*` fields `tracing-opentelemetry` users write). Returns whether
    /// it was one.
    fn control(&mut self, _key: &str, _value: &str) -> bool {
        false
    }
}

/// Whether `name` is an `otel.*` control field to be read whatever its
/// class: the kind and status code are never personal data; the status
/// message may be, so it is used only when its field is public.
fn is_control(name: &str, class: FieldClass) -> bool {
    match name {
        "otel.kind" | "otel.status_code" => true,
        "otel.status_message" => class == FieldClass::Public,
        _ => false,
    }
}

/// A `tracing` visitor that reads a field only when its class needs the
/// value: redacted and dropped fields are never formatted.
pub(crate) struct Capture<'a, S> {
    pub(crate) rules: &'a FieldRules,
    pub(crate) sink: &'a mut S,
    /// Scratch space for values that only exist as `Debug` output.
    pub(crate) buf: String,
}

impl<S: Sink> Capture<'_, S> {
    fn put(&mut self, field: &Field, value: Value<'_>) {
        let class = self.rules.class(field.name());
        self.sink.put(field.name(), class, value);
    }

    fn put_formatted(&mut self, field: &Field, f: impl FnOnce(&mut String) -> fmt::Result) {
        let name = field.name();
        let class = self.rules.class(name);
        let control = is_control(name, class);
        match class {
            _ if control => {}
            FieldClass::Dropped => return,
            FieldClass::Redacted => {
                return self.sink.put(name, FieldClass::Redacted, Value::Absent);
            }
            _ => {}
        }
        self.buf.clear();
        if f(&mut self.buf).is_ok() {
            let text = std::mem::take(&mut self.buf);
            if !(control && self.sink.control(name, &text)) {
                self.sink.put(name, class, Value::Str(&text));
            }
            self.buf = text;
        }
    }
}

impl<S: Sink> Visit for Capture<'_, S> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put_formatted(field, |buf| write!(buf, "{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        let class = self.rules.class(field.name());
        if is_control(field.name(), class) && self.sink.control(field.name(), value) {
            return;
        }
        self.put(field, Value::Str(value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put_formatted(field, |buf| write!(buf, "{value}"));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::I64(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::U64(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, Value::F64(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::Bool(value));
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.put(field, Value::I128(value));
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.put(field, Value::U128(value));
    }

    fn record_bytes(&mut self, field: &Field, value: &[u8]) {
        self.put(field, Value::Bytes(value));
    }
}

/// Span fields become span attributes; `otel.kind` and `otel.status_code`
/// (with `otel.status_message`) set the kind and status.
pub(crate) struct SpanSink<'a>(pub(crate) &'a mut Span);

impl Sink for SpanSink<'_> {
    fn put(&mut self, key: &'static str, class: FieldClass, value: Value<'_>) {
        self.0.record_value(key, class, value);
    }

    fn control(&mut self, key: &str, value: &str) -> bool {
        match key {
            "otel.kind" => {
                let kind = match value.to_ascii_lowercase().as_str() {
                    "server" => SpanKind::Server,
                    "client" => SpanKind::Client,
                    "producer" => SpanKind::Producer,
                    "consumer" => SpanKind::Consumer,
                    _ => SpanKind::Internal,
                };
                self.0.set_kind(kind);
                true
            }
            "otel.status_code" => {
                if value.eq_ignore_ascii_case("error") {
                    if !self.0.has_error_status() {
                        self.0.set_error_description("error");
                    }
                } else if value.eq_ignore_ascii_case("ok") {
                    self.0.set_ok();
                }
                true
            }
            "otel.status_message" => {
                self.0.set_error_description(value.to_owned());
                true
            }
            _ => false,
        }
    }
}

/// Event fields become log attributes; a public `message` becomes the body.
pub(crate) struct EventSink<'a> {
    pub(crate) keys: &'a KeyRing,
    pub(crate) limits: &'a Limits,
    pub(crate) attrs: AttrBuilder,
    pub(crate) body: Option<Cow<'static, str>>,
}

impl Sink for EventSink<'_> {
    fn put(&mut self, key: &'static str, class: FieldClass, value: Value<'_>) {
        if key == "message"
            && class == FieldClass::Public
            && let Value::Str(text) = value
        {
            let (text, cut) = crate::value::truncate(text, self.limits.max_string_len);
            self.attrs.limited |= cut;
            self.body = Some(Cow::Owned(text));
            return;
        }
        self.attrs
            .capture(Cow::Borrowed(key), class, value, self.keys);
    }
}
