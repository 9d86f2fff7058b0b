//! What the generator reads: the service's instrumented functions, as
//! plain values built from the catalogue ([`FunctionInfo::from_catalogue`])
//! or by hand (in tests).

use telemetry_core::catalogue::{
    Catalogue, CatalogueItem, FUNCTION_DURATION_BOUNDS, FunctionSchema, Objective,
};
use telemetry_core::export::CategoryNames;

/// The percentile a latency objective applies to when it names none (as
/// the catalogue says): 99 % of calls finish within the threshold.
pub const DEFAULT_LATENCY_PERCENTILE: f64 = 99.0;

/// One instrumented function: the value of the `function` label of its
/// metrics, where it is defined, its category and its objective.
#[derive(Clone, Debug, PartialEq)]
pub struct FunctionInfo {
    /// The value of the `function` label, e.g. `checkout.place_order`.
    pub name: String,
    /// The Rust module path (the `module` label), if known.
    pub module: Option<String>,
    /// The category's name (the `telemetry_category` label), e.g. `business`.
    pub category_name: String,
    /// The function's objective, if declared.
    pub objective: Option<Objective>,
}

impl FunctionInfo {
    /// A function without a module and an objective.
    pub fn new(name: impl Into<String>, category_name: impl Into<String>) -> Self {
        FunctionInfo {
            name: name.into(),
            module: None,
            category_name: category_name.into(),
            objective: None,
        }
    }

    /// This function with an objective: `success` percent of calls succeed
    /// (e.g. `Some(99.9)`), and `latency_percentile` percent (default 99)
    /// finish within `latency_ms` milliseconds.
    #[must_use]
    pub fn with_objective(
        mut self,
        success: Option<f64>,
        latency_ms: Option<f64>,
        latency_percentile: Option<f64>,
    ) -> Self {
        self.objective = Some(Objective {
            success,
            latency_ms,
            latency_percentile,
        });
        self
    }

    /// This function with its module path.
    #[must_use]
    pub fn with_module(mut self, module: impl Into<String>) -> Self {
        self.module = Some(module.into());
        self
    }

    /// The instrumented functions of a catalogue, with the built-in
    /// category names (a custom category is `custom-N`; use
    /// [`from_catalogue_named`](Self::from_catalogue_named) with
    /// `telemetry.categories()` when the service names its categories).
    pub fn from_catalogue(catalogue: &Catalogue) -> Vec<FunctionInfo> {
        Self::from_catalogue_named(catalogue, &CategoryNames::default())
    }

    /// The instrumented functions of a catalogue, with their categories
    /// named by `names` (the service's `Telemetry::categories()`).
    pub fn from_catalogue_named(catalogue: &Catalogue, names: &CategoryNames) -> Vec<FunctionInfo> {
        catalogue
            .items()
            .iter()
            .filter_map(|item| match item {
                CatalogueItem::Function { schema, source } => {
                    Some(Self::from_schema(schema, Some(source.module), names))
                }
                CatalogueItem::Event { .. } => None,
            })
            .collect()
    }

    /// One function of the catalogue.
    pub fn from_schema(
        schema: &FunctionSchema,
        module: Option<&str>,
        names: &CategoryNames,
    ) -> FunctionInfo {
        FunctionInfo {
            name: schema.name.to_owned(),
            module: module.map(str::to_owned),
            category_name: names.name(schema.category).into_owned(),
            objective: schema.objective,
        }
    }

    /// The error budget (0..1) of a success objective: `(100 - success) / 100`.
    pub fn error_budget(&self) -> Option<f64> {
        let success = self.objective?.success?;
        budget(success)
    }

    /// The latency objective: the histogram bound (seconds) and the budget
    /// (0..1) of slower calls, `(100 - latency_percentile) / 100`. A
    /// threshold that is not a bound of [`FUNCTION_DURATION_BOUNDS`] is
    /// rounded down to the nearest bound (so no slow call goes uncounted).
    pub fn latency_objective(&self) -> Option<LatencyObjective> {
        let objective = self.objective?;
        let ms = objective.latency_ms?;
        let percentile = objective
            .latency_percentile
            .unwrap_or(DEFAULT_LATENCY_PERCENTILE);
        let budget = budget(percentile)?;
        if !ms.is_finite() || ms <= 0.0 {
            return None;
        }
        let seconds = ms / 1000.0;
        let bound = FUNCTION_DURATION_BOUNDS
            .iter()
            .copied()
            .rfind(|b| *b <= seconds * (1.0 + 1e-9))
            .unwrap_or(FUNCTION_DURATION_BOUNDS[0]);
        Some(LatencyObjective {
            threshold_ms: ms,
            bound_seconds: bound,
            percentile,
            budget,
        })
    }
}

/// A latency objective, resolved to a histogram bucket.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct LatencyObjective {
    /// The threshold as declared, in milliseconds.
    pub threshold_ms: f64,
    /// The histogram bound used (`le`), in seconds.
    pub bound_seconds: f64,
    /// The percentage of calls that must finish within the threshold.
    pub percentile: f64,
    /// The fraction of calls allowed to be slower: `(100 - percentile) / 100`.
    pub budget: f64,
}

/// `(100 - percent) / 100`, rounded to 12 decimals so that `99.9` gives
/// exactly `0.001`; `None` unless the budget is in `(0, 1)`.
fn budget(percent: f64) -> Option<f64> {
    let b = ((100.0 - percent) / 100.0 * 1e12).round() / 1e12;
    (b.is_finite() && b > 0.0 && b < 1.0).then_some(b)
}

/// The functions with distinct names, in the order given (a name's first
/// entry wins: the metrics of two functions of one name are one series
/// family, so they get one set of rules).
pub(crate) fn distinct(functions: &[FunctionInfo]) -> Vec<&FunctionInfo> {
    let mut seen = std::collections::HashSet::new();
    functions
        .iter()
        .filter(|f| seen.insert(f.name.as_str()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets() {
        let f = FunctionInfo::new("f", "performance").with_objective(Some(99.9), Some(250.0), None);
        assert_eq!(f.error_budget(), Some(0.001));
        let l = f.latency_objective().unwrap();
        assert_eq!(l.bound_seconds, 0.25);
        assert_eq!(l.budget, 0.01);
        assert_eq!(l.percentile, 99.0);
        let odd =
            FunctionInfo::new("g", "performance").with_objective(None, Some(300.0), Some(95.0));
        assert_eq!(odd.error_budget(), None);
        assert_eq!(odd.latency_objective().unwrap().bound_seconds, 0.25);
        let tiny =
            FunctionInfo::new("h", "performance").with_objective(Some(100.0), Some(0.1), None);
        assert_eq!(tiny.error_budget(), None);
        assert_eq!(tiny.latency_objective().unwrap().bound_seconds, 0.0005);
    }

    #[test]
    fn every_bound_in_milliseconds_resolves_to_itself() {
        for b in FUNCTION_DURATION_BOUNDS {
            let f =
                FunctionInfo::new("f", "performance").with_objective(None, Some(b * 1000.0), None);
            assert_eq!(f.latency_objective().unwrap().bound_seconds, b);
        }
    }

    /// Places an order (an instrumented function the catalogue lists).
    #[telemetry_core::instrument_event(
        name = "dashboards.test.place_order",
        category = business,
        objective(success = 99.5, latency_ms = 500)
    )]
    fn place_order() {}

    #[test]
    fn the_catalogue_gives_names_modules_categories_and_objectives() {
        place_order();
        let functions = FunctionInfo::from_catalogue(&Catalogue::collect());
        let f = functions
            .iter()
            .find(|f| f.name == "dashboards.test.place_order")
            .unwrap();
        assert_eq!(f.category_name, "business");
        assert_eq!(f.module.as_deref(), Some(module_path!()));
        assert_eq!(f.error_budget(), Some(0.005));
        assert_eq!(f.latency_objective().unwrap().bound_seconds, 0.5);
        let dup = [f.clone(), f.clone().with_module("other")];
        assert_eq!(distinct(&dup).len(), 1);
    }
}
