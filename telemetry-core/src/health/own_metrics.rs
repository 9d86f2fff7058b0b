//! The library's own metrics, written through [`OwnMetrics`]: each part of
//! the library reports its own counts (drops and withheld values and
//! rejected headers here; consent changes, coverage and the fleet view in
//! `consent`; export failures in `pipeline`; misuse in `subject` and
//! `macro_support`), and the instance gathers them. None carries an
//! identifier.

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use crate::category::{Category, CategoryNames, CategorySet};
use crate::export::keys::CATEGORY;
use crate::export::{Attribute, MetricData, MetricPoints, Number, NumberPoint, Temporality};
use crate::health::DropCause;
use crate::health::DropCounts;
use crate::health::rejections::Rejections;
use crate::value::AttrValue;

/// What a metric's points are: counts since the process started, or a
/// current value.
#[derive(Copy, Clone)]
pub(crate) enum Kind {
    /// A monotonic cumulative sum.
    Sum,
    /// A gauge.
    Gauge,
}

/// The library's own metrics being written for one collection.
pub(crate) struct OwnMetrics<'a> {
    names: &'a CategoryNames,
    start: SystemTime,
    now: SystemTime,
    for_scrape: bool,
    out: Vec<MetricData>,
}

impl<'a> OwnMetrics<'a> {
    /// A collection at `now`, for a process that started `uptime` ago.
    /// `for_scrape`: a pull exporter reads them, so counters an alert
    /// watches are there from the start (at 0); a push export leaves zero
    /// counts out, so an idle instance sends nothing.
    pub(crate) fn new(names: &'a CategoryNames, uptime: Duration, for_scrape: bool) -> Self {
        let now = SystemTime::now();
        OwnMetrics {
            names,
            start: now.checked_sub(uptime).unwrap_or(now),
            now,
            for_scrape,
            out: Vec::new(),
        }
    }

    /// Whether a pull exporter reads this collection.
    pub(crate) fn for_scrape(&self) -> bool {
        self.for_scrape
    }

    /// The `category` attribute of `category`.
    pub(crate) fn category(&self, category: Category) -> Attribute {
        Attribute::new(
            CATEGORY,
            AttrValue::from(self.names.name(category).into_owned()),
        )
    }

    /// Adds metric `name` with `points` (attributes and value); a metric
    /// without points is left out. Gauge points start at `since` if given.
    pub(crate) fn add(
        &mut self,
        kind: Kind,
        (name, description, unit): (&'static str, &'static str, &'static str),
        since: Option<SystemTime>,
        points: impl IntoIterator<Item = (Vec<Attribute>, Number)>,
    ) {
        let start = since.unwrap_or(self.start);
        let points: Vec<NumberPoint> = points
            .into_iter()
            .map(|(attributes, value)| NumberPoint {
                attributes,
                start,
                time: self.now,
                value,
                exemplars: Vec::new(),
            })
            .collect();
        if points.is_empty() {
            return;
        }
        let points = match kind {
            Kind::Sum => MetricPoints::Sum {
                monotonic: true,
                temporality: Temporality::Cumulative,
                points,
            },
            Kind::Gauge => MetricPoints::Gauge { points },
        };
        self.out.push(MetricData {
            name: Cow::Borrowed(name),
            description: Cow::Borrowed(description),
            unit: Cow::Borrowed(unit),
            category: Category::TELEMETRY,
            points,
        });
    }

    /// Adds a counter of `points` (attributes and count).
    pub(crate) fn counts(
        &mut self,
        metric: (&'static str, &'static str, &'static str),
        points: impl IntoIterator<Item = (Vec<Attribute>, u64)>,
    ) {
        self.add(
            Kind::Sum,
            metric,
            None,
            points.into_iter().map(|(a, n)| (a, int(n))),
        );
    }

    /// Drops by cause and category, and hashed values withheld from
    /// anonymous records by category. For a scrape, the causes an operator
    /// alerts on are there at 0 for every `known` category.
    pub(crate) fn drops(&mut self, snapshot: &DropCounts, known: CategorySet) {
        let mut counted: Vec<(DropCause, Category, u64)> = snapshot
            .iter()
            .filter(|(cause, _, _)| *cause != DropCause::Anonymized)
            .collect();
        if self.for_scrape {
            for cause in [DropCause::QueueFull, DropCause::ExporterFailure] {
                for cat in known.iter() {
                    if !counted.iter().any(|(c, k, _)| *c == cause && *k == cat) {
                        counted.push((cause, cat, 0));
                    }
                }
            }
        }
        let drops: Vec<_> = counted
            .into_iter()
            .map(|(cause, cat, n)| {
                (
                    vec![Attribute::new("cause", cause.as_str()), self.category(cat)],
                    n,
                )
            })
            .collect();
        self.counts(
            (
                "telemetry.records.dropped",
                "Records not exported, by cause and category.",
                "{record}",
            ),
            drops,
        );
        let withheld: Vec<_> = snapshot
            .iter()
            .filter(|(cause, _, _)| *cause == DropCause::Anonymized)
            .map(|(_, cat, n)| (vec![self.category(cat)], n))
            .collect();
        self.counts(
            (
                "telemetry.fields.withheld",
                "Hashed values left out of anonymous records (admitted only because their category is exempt), by category.",
                "{value}",
            ),
            withheld,
        );
    }

    /// Incoming propagation headers ignored, by header and reason.
    pub(crate) fn rejections(&mut self, rejected: &Rejections) {
        let points: Vec<_> = rejected
            .snapshot()
            .into_iter()
            .map(|(header, reason, n)| {
                (
                    vec![
                        Attribute::new("header", header),
                        Attribute::new("reason", reason),
                    ],
                    n,
                )
            })
            .collect();
        self.counts(
            (
                "telemetry.propagation.rejected",
                "Incoming propagation headers ignored, by header and reason.",
                "{header}",
            ),
            points,
        );
    }

    /// The metrics written.
    pub(crate) fn finish(self) -> Vec<MetricData> {
        self.out
    }
}

/// A count as a metric value.
pub(crate) fn int(n: u64) -> Number {
    Number::I64(i64::try_from(n).unwrap_or(i64::MAX))
}
