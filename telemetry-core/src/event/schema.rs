//! What an event type says about itself: its schema (name, category,
//! version, fields with their privacy classes) and how its fields are read.

use crate::category::Category;
use crate::privacy::FieldClass;
use crate::value::{FieldType, Value};

/// The static description of one field of an event.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FieldSchema {
    /// Field name, as exported.
    pub name: &'static str,
    /// Field type.
    #[serde(rename = "type")]
    pub ty: FieldType,
    /// How the field is treated before it leaves the process.
    pub class: FieldClass,
}

/// The static description of an event type: what the catalogue lists and
/// what the pipeline uses to classify fields.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct EventSchema {
    /// Event name, e.g. `checkout.purchase_completed`.
    pub name: &'static str,
    /// The category whose consent and sampling apply.
    pub category: Category,
    /// Schema version; bump it when fields change meaning.
    pub version: u32,
    /// What the event means (the type's doc comment, for derived events).
    pub description: &'static str,
    /// Every captured field, with its class. Dropped fields are listed too,
    /// so the catalogue shows what is deliberately not collected.
    pub fields: &'static [FieldSchema],
}

impl EventSchema {
    /// Whether any field is hashed (so a hash key must be configured).
    pub fn needs_hash_key(&self) -> bool {
        self.fields.iter().any(|f| f.class == FieldClass::Hashed)
    }
}

/// Receives the values of an event's fields, one call per field, in schema
/// order. Implemented by the pipeline; values are borrowed, never copied
/// unless the field's class keeps them.
pub trait FieldVisitor {
    /// Called with the field's index into [`EventSchema::fields`] and its value.
    fn field(&mut self, index: usize, value: Value<'_>);
}

/// A typed event. Derive it with `#[derive(TelemetryEvent)]`,
/// or implement it by hand:
///
/// ```
/// use telemetry_core::*;
/// use telemetry_core::event::{EventSchema, FieldSchema, FieldVisitor};
///
/// struct SignedUp<'a> { user: &'a str, plan: &'a str }
///
/// impl TelemetryEvent for SignedUp<'_> {
///     const SCHEMA: &'static EventSchema = &EventSchema {
///         name: "account.signed_up",
///         category: Category::BUSINESS,
///         version: 1,
///         description: "A user created an account.",
///         fields: &[
///             FieldSchema { name: "plan", ty: FieldType::String, class: FieldClass::Public },
///         ],
///     };
///     fn subject(&self) -> Option<&str> { Some(self.user) }
///     fn visit_fields(&self, v: &mut dyn FieldVisitor) {
///         v.field(0, self.plan.to_value());
///     }
/// }
/// ```
///
/// The pipeline calls [`subject`](TelemetryEvent::subject) and
/// [`visit_fields`](TelemetryEvent::visit_fields) only after consent and
/// sampling said yes, so a dropped event reads none of its fields.
pub trait TelemetryEvent {
    /// The static schema of this event type.
    const SCHEMA: &'static EventSchema;

    /// Whether the event names its subject in a field (set by the derive
    /// for a `#[telemetry(subject)]` field). An implementation that
    /// overrides [`with_subject`](Self::with_subject) sets it to `true`;
    /// one that only overrides [`subject`](Self::subject) need not.
    const NAMES_SUBJECT: bool = false;

    /// The raw id of the data subject whose consent applies, if the event
    /// names one (`#[telemetry(subject)]`). It is turned into a pseudonymous
    /// key at once and never stored. `None` means the current subject scope.
    fn subject(&self) -> Option<&str> {
        None
    }

    /// Calls `f` with the subject's id as text: what the pipeline uses.
    /// The default hands over [`subject`](Self::subject); the derive
    /// implements it for a subject field of any
    /// [`SubjectId`](crate::SubjectId) type, formatting an integer id on
    /// the stack.
    #[inline(always)]
    fn with_subject<R>(&self, f: impl FnOnce(Option<&str>) -> R) -> R
    where
        Self: Sized,
    {
        f(self.subject())
    }

    /// Hands each captured (not dropped) field's value to the visitor.
    fn visit_fields(&self, visitor: &mut dyn FieldVisitor);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_knows_when_it_needs_a_key() {
        static F: [FieldSchema; 2] = [
            FieldSchema {
                name: "a",
                ty: FieldType::String,
                class: FieldClass::Public,
            },
            FieldSchema {
                name: "b",
                ty: FieldType::String,
                class: FieldClass::Hashed,
            },
        ];
        let s = EventSchema {
            name: "x",
            category: Category::BUSINESS,
            version: 1,
            description: "",
            fields: &F,
        };
        assert!(s.needs_hash_key());
        let s2 = EventSchema {
            fields: &F[..1],
            ..s
        };
        assert!(!s2.needs_hash_key());
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.contains(r#""category":"business""#), "{json}");
        assert!(json.contains(r#""class":"hashed""#), "{json}");
    }
}
