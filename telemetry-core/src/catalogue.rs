//! The catalogue: everything the service can collect, generated from the
//! code. Every `#[derive(TelemetryEvent)]` type and every
//! `#[instrument_event]` function registers itself at compile time; the
//! catalogue lists them with their fields, types, privacy classes, metrics,
//! source location and description.
//!
//! Keep it as a checked-in snapshot so a new field shows up in review:
//!
//! ```no_run
//! # fn main() -> std::io::Result<()> {
//! // in a test of your service:
//! telemetry_core::catalogue::Catalogue::collect().check_snapshot("telemetry-catalogue.md")?;
//! # Ok(()) }
//! ```
//! Run with `UPDATE_CATALOGUE=1` to accept a change.

use std::fmt::Write as _;
use std::path::Path;

use crate::category::Category;
use crate::event::{EventSchema, FieldSchema};

/// Where an item is defined.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SourceLocation {
    /// Rust module path.
    pub module: &'static str,
    /// Source file.
    pub file: &'static str,
    /// Line.
    pub line: u32,
}

/// The counter of calls every instrumented function records into, with
/// the attributes `function` (its name), `module` (its Rust module path),
/// `outcome` (`ok`, `error`, `panic`, `cancelled`) and `error.type`. One
/// family for every function, so one dashboard and one alert rule cover
/// them all (filtered by the `function` attribute).
pub const FUNCTION_CALLS: &str = "function.calls";

/// The histogram of call durations (seconds) every instrumented function
/// records into, with the attributes `function`, `module` and `outcome`.
/// Its bucket bounds are [`FUNCTION_DURATION_BOUNDS`].
pub const FUNCTION_DURATION: &str = "function.duration";

/// The bucket bounds of [`FUNCTION_DURATION`], in seconds (OpenTelemetry's
/// HTTP defaults). A latency objective's threshold is one of them.
pub const FUNCTION_DURATION_BOUNDS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A service-level objective of an instrumented function, declared with
/// `#[instrument_event(objective(success = 99.9, latency_ms = 250,
/// latency_percentile = 99))]`. Alert rules and dashboards are generated
/// from it.
#[derive(Copy, Clone, Debug, PartialEq, serde::Serialize)]
pub struct Objective {
    /// The percentage of calls that must succeed (outcome `ok`), e.g. `99.9`.
    pub success: Option<f64>,
    /// The latency threshold in milliseconds: one of the bounds of
    /// [`FUNCTION_DURATION_BOUNDS`] (in milliseconds), e.g. `250`.
    pub latency_ms: Option<f64>,
    /// The percentage of calls that must finish within `latency_ms`, e.g. `99`.
    pub latency_percentile: Option<f64>,
}

/// An instrumented function, as the catalogue lists it.
#[derive(Copy, Clone, Debug, PartialEq, serde::Serialize)]
pub struct FunctionSchema {
    /// The span name and the value of the `function` attribute of its
    /// metrics ([`FUNCTION_CALLS`], [`FUNCTION_DURATION`]), e.g.
    /// `checkout.place_order`.
    pub name: &'static str,
    /// Category whose consent and sampling apply.
    pub category: Category,
    /// The function's doc comment.
    pub description: &'static str,
    /// Arguments recorded (only those listed in `fields(..)`).
    pub fields: &'static [FieldSchema],
    /// Whether an `Err` is recorded as an error event.
    pub records_errors: bool,
    /// How the error's message is recorded too (`err(message = class)`),
    /// in records that may identify their subject only.
    pub records_error_message: Option<crate::privacy::FieldClass>,
    /// Whether an error event carries the stack frames of the function's
    /// own crate (`err(backtrace)`).
    pub records_backtrace: bool,
    /// The return value's class, if recorded (`ret = ..`).
    pub records_return: Option<crate::privacy::FieldClass>,
    /// The argument whose value opens the subject scope, if any.
    pub subject: Option<&'static str>,
    /// The function's objective, if declared.
    pub objective: Option<Objective>,
}

/// One registered item.
#[derive(Copy, Clone, Debug)]
pub enum CatalogueItem {
    /// A derived event type.
    Event {
        /// Its schema.
        schema: &'static EventSchema,
        /// Where it is defined.
        source: SourceLocation,
    },
    /// An instrumented function.
    Function {
        /// Its schema.
        schema: &'static FunctionSchema,
        /// Where it is defined.
        source: SourceLocation,
    },
}

inventory::collect!(CatalogueItem);

/// Everything registered in this binary.
#[derive(Clone, Debug)]
pub struct Catalogue {
    items: Vec<CatalogueItem>,
}

#[derive(serde::Serialize)]
struct JsonEvent<'a> {
    #[serde(flatten)]
    schema: &'a EventSchema,
    source: SourceLocation,
}

#[derive(serde::Serialize)]
struct JsonFunction<'a> {
    #[serde(flatten)]
    schema: &'a FunctionSchema,
    source: SourceLocation,
}

#[derive(serde::Serialize)]
struct Json<'a> {
    events: Vec<JsonEvent<'a>>,
    functions: Vec<JsonFunction<'a>>,
}

impl Catalogue {
    /// Collects every registered item, sorted by name.
    pub fn collect() -> Catalogue {
        let mut items: Vec<CatalogueItem> = inventory::iter::<CatalogueItem>
            .into_iter()
            .copied()
            .collect();
        items.sort_by_key(|i| match i {
            CatalogueItem::Event { schema, .. } => (0, schema.name),
            CatalogueItem::Function { schema, .. } => (1, schema.name),
        });
        Catalogue { items }
    }

    /// The items.
    pub fn items(&self) -> &[CatalogueItem] {
        &self.items
    }

    /// The event with this name.
    pub fn event(&self, name: &str) -> Option<&'static EventSchema> {
        self.items.iter().find_map(|i| match i {
            CatalogueItem::Event { schema, .. } if schema.name == name => Some(*schema),
            _ => None,
        })
    }

    /// The instrumented function with this name.
    pub fn function(&self, name: &str) -> Option<&'static FunctionSchema> {
        self.items.iter().find_map(|i| match i {
            CatalogueItem::Function { schema, .. } if schema.name == name => Some(*schema),
            _ => None,
        })
    }

    /// The catalogue as JSON.
    pub fn to_json(&self) -> String {
        let mut doc = Json {
            events: Vec::new(),
            functions: Vec::new(),
        };
        for item in &self.items {
            match item {
                CatalogueItem::Event { schema, source } => doc.events.push(JsonEvent {
                    schema,
                    source: *source,
                }),
                CatalogueItem::Function { schema, source } => doc.functions.push(JsonFunction {
                    schema,
                    source: *source,
                }),
            }
        }
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    }

    /// The catalogue as Markdown.
    pub fn to_markdown(&self) -> String {
        let mut out = String::from(
            "# Telemetry catalogue\n\nEverything this service can collect, generated from the code.\n",
        );
        let fields = |out: &mut String, fields: &[FieldSchema]| {
            if fields.is_empty() {
                out.push_str("\nNo fields.\n");
                return;
            }
            out.push_str("\n| field | type | class |\n|---|---|---|\n");
            for f in fields {
                let _ = writeln!(
                    out,
                    "| `{}` | {} | {} |",
                    f.name,
                    f.ty.name(),
                    f.class.name()
                );
            }
        };
        let header = |out: &mut String,
                      title: String,
                      description: &str,
                      category: Category,
                      file: &str| {
            let description = if description.is_empty() {
                "(no description)"
            } else {
                description
            };
            let _ = write!(
                out,
                "\n### {title}\n\n{description}\n\ncategory: **{category}** · defined in {file}\n"
            );
        };
        let events: Vec<_> = self
            .items
            .iter()
            .filter_map(|i| match i {
                CatalogueItem::Event { schema, source } => Some((schema, source)),
                _ => None,
            })
            .collect();
        if !events.is_empty() {
            out.push_str("\n## Events\n");
        }
        for (schema, source) in events {
            header(
                &mut out,
                format!("`{}` (v{})", schema.name, schema.version),
                schema.description,
                schema.category,
                source.file,
            );
            fields(&mut out, schema.fields);
        }
        let functions: Vec<_> = self
            .items
            .iter()
            .filter_map(|i| match i {
                CatalogueItem::Function { schema, source } => Some((schema, source)),
                _ => None,
            })
            .collect();
        if !functions.is_empty() {
            out.push_str("\n## Instrumented functions\n");
        }
        for (schema, source) in functions {
            header(
                &mut out,
                format!("`{}`", schema.name),
                schema.description,
                schema.category,
                source.file,
            );
            let _ = writeln!(
                out,
                "\nmetrics: `{FUNCTION_CALLS}`, `{FUNCTION_DURATION}` (`function` = `{}`)",
                schema.name
            );
            if let Some(o) = schema.objective {
                let mut parts = Vec::new();
                if let Some(s) = o.success {
                    parts.push(format!("{s} % of calls succeed"));
                }
                if let Some(ms) = o.latency_ms {
                    let p = o.latency_percentile.unwrap_or(99.0);
                    parts.push(format!("{p} % of calls finish within {ms} ms"));
                }
                let _ = writeln!(out, "\nobjective: {}", parts.join("; "));
            }
            if let Some(s) = schema.subject {
                let _ = writeln!(out, "\nsubject scope from argument `{s}`");
            }
            if schema.records_errors {
                let _ = writeln!(
                    out,
                    "\nerrors: recorded as `exception` events with their type{}",
                    match schema.records_error_message {
                        Some(class) => format!(
                            " and message ({}, only where the subject consented)",
                            class.name()
                        ),
                        None => String::new(),
                    }
                );
                if schema.records_backtrace {
                    let _ = writeln!(
                        out,
                        "\nerrors carry the stack frames of the service's own crate"
                    );
                }
            }
            if let Some(class) = schema.records_return {
                let _ = writeln!(
                    out,
                    "\nreturn value: recorded as {}, only where the subject consented",
                    class.name()
                );
            }
            fields(&mut out, schema.fields);
        }
        out
    }

    /// Compares the Markdown catalogue with the snapshot at `path`. With the
    /// environment variable `UPDATE_CATALOGUE=1`, writes the snapshot
    /// instead. A difference is an error that shows both versions' first
    /// differing line and how to accept the change.
    pub fn check_snapshot(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        let path = path.as_ref();
        let current = self.to_markdown();
        if std::env::var_os("UPDATE_CATALOGUE").is_some_and(|v| v == "1") {
            return std::fs::write(path, current);
        }
        let stored = std::fs::read_to_string(path).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!(
                    "cannot read catalogue snapshot {}: {e}; create it with UPDATE_CATALOGUE=1",
                    path.display()
                ),
            )
        })?;
        if stored == current {
            return Ok(());
        }
        let (line, old, new) = stored
            .lines()
            .chain(std::iter::repeat(""))
            .zip(current.lines().chain(std::iter::repeat("")))
            .enumerate()
            .find(|(_, (a, b))| a != b)
            .map(|(i, (a, b))| (i + 1, a.to_owned(), b.to_owned()))
            .unwrap_or((0, String::new(), String::new()));
        Err(std::io::Error::other(format!(
            "the telemetry catalogue changed (what this service collects is different from {}): \
             first difference at line {line}:\n  snapshot: {old}\n  code:     {new}\n\
             review the change, then run with UPDATE_CATALOGUE=1 to accept it",
            path.display()
        )))
    }
}
