//! The library's own metrics: drops by cause, values withheld from
//! anonymous records, rejected propagation headers, consent grants and
//! revocations, consent coverage, and process-wide misuse counts. None
//! carries an identifier.

use std::borrow::Cow;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use crate::category::Category;
use crate::export::{Attribute, MetricData, MetricPoints, Number, NumberPoint, Temporality};
use crate::health::DropCause;
use crate::instance::Inner;
use crate::value::AttrValue;

impl Inner {
    /// The library's own metrics. `for_scrape`: a pull exporter reads them,
    /// so counters an alert watches are there from the start (at 0); a push
    /// export leaves zero counts out, so an idle instance sends nothing.
    pub(crate) fn own_metrics(&self, for_scrape: bool) -> Vec<MetricData> {
        let now = SystemTime::now();
        let start = now - Duration::from_nanos(self.clock().mono());
        let name = |c: Category| AttrValue::from(self.names().name(c).into_owned());
        let point = |attributes: Vec<Attribute>, v: u64| NumberPoint {
            attributes,
            start,
            time: now,
            value: Number::I64(i64::try_from(v).unwrap_or(i64::MAX)),
            exemplars: Vec::new(),
        };
        let sum = |n: &'static str,
                   d: &'static str,
                   unit: &'static str,
                   points: Vec<NumberPoint>| MetricData {
            name: Cow::Borrowed(n),
            description: Cow::Borrowed(d),
            unit: Cow::Borrowed(unit),
            category: Category::TELEMETRY,
            points: MetricPoints::Sum {
                monotonic: true,
                temporality: Temporality::Cumulative,
                points,
            },
        };
        let mut out = Vec::new();
        let snapshot = self.drops().snapshot();
        let mut counted: Vec<(DropCause, Category, u64)> = snapshot
            .iter()
            .filter(|(cause, _, _)| *cause != DropCause::Anonymized)
            .collect();
        if for_scrape {
            // The causes an operator alerts on are there from the start, at
            // 0 for every category, so a dashboard shows 0 rather than no
            // data and an alert's `increase` has a first sample.
            for cause in [DropCause::QueueFull, DropCause::ExporterFailure] {
                for cat in self.known().iter() {
                    if !counted.iter().any(|(c, k, _)| *c == cause && *k == cat) {
                        counted.push((cause, cat, 0));
                    }
                }
            }
        }
        let drops: Vec<NumberPoint> = counted
            .into_iter()
            .map(|(cause, cat, n)| {
                point(
                    vec![
                        Attribute::new("cause", cause.as_str()),
                        Attribute::new(crate::export::keys::CATEGORY, name(cat)),
                    ],
                    n,
                )
            })
            .collect();
        if !drops.is_empty() {
            out.push(sum(
                "telemetry.records.dropped",
                "Records not exported, by cause and category.",
                "{record}",
                drops,
            ));
        }
        let withheld: Vec<NumberPoint> = snapshot
            .iter()
            .filter(|(cause, _, _)| *cause == DropCause::Anonymized)
            .map(|(_, cat, n)| {
                point(
                    vec![Attribute::new(crate::export::keys::CATEGORY, name(cat))],
                    n,
                )
            })
            .collect();
        if !withheld.is_empty() {
            out.push(sum(
                "telemetry.fields.withheld",
                "Hashed values left out of anonymous records (admitted only because their category is exempt), by category.",
                "{value}",
                withheld,
            ));
        }
        {
            let rejected: Vec<NumberPoint> = self
                .rejected_headers()
                .snapshot()
                .into_iter()
                .map(|(header, reason, n)| {
                    point(
                        vec![
                            Attribute::new("header", header),
                            Attribute::new("reason", reason),
                        ],
                        n,
                    )
                })
                .collect();
            if !rejected.is_empty() {
                out.push(sum(
                    "telemetry.propagation.rejected",
                    "Incoming propagation headers ignored, by header and reason.",
                    "{header}",
                    rejected,
                ));
            }
        }
        let totals = self.consent().counts.totals();
        let grants: Vec<_> = totals
            .iter()
            .filter(|t| t.1 > 0)
            .map(|(c, g, _)| {
                point(
                    vec![Attribute::new(crate::export::keys::CATEGORY, name(*c))],
                    *g,
                )
            })
            .collect();
        let revocations: Vec<_> = totals
            .iter()
            .filter(|t| t.2 > 0)
            .map(|(c, _, r)| {
                point(
                    vec![Attribute::new(crate::export::keys::CATEGORY, name(*c))],
                    *r,
                )
            })
            .collect();
        if !grants.is_empty() {
            out.push(sum(
                "telemetry.consent.grants",
                "Consent grants, per category. Identifies no subject.",
                "{grant}",
                grants,
            ));
        }
        if !revocations.is_empty() {
            out.push(sum(
                "telemetry.consent.revocations",
                "Consent revocations, per category. Identifies no subject.",
                "{revocation}",
                revocations,
            ));
        }
        let deletions: Vec<_> = self
            .consent()
            .counts
            .deletions()
            .into_iter()
            .map(|(c, n)| {
                point(
                    vec![Attribute::new(crate::export::keys::CATEGORY, name(c))],
                    n,
                )
            })
            .collect();
        if !deletions.is_empty() {
            out.push(sum(
                "telemetry.consent.deletion_requests",
                "Deletion requests issued (one per revocation that asks downstream stores to delete), per category. Identifies no subject.",
                "{request}",
                deletions,
            ));
        }
        let failures = self.pipeline().stats.errors.load(Ordering::Relaxed);
        if failures > 0 || for_scrape {
            out.push(sum(
                "telemetry.export.failures",
                "Export attempts that failed (each drops or defers its batch).",
                "{failure}",
                vec![point(Vec::new(), failures)],
            ));
        }
        // Process-wide counts, reported by the installed instance (or by
        // every instance when none is installed).
        let process_wide = match crate::Telemetry::global() {
            Some(g) => g.inner.id() == self.id(),
            None => true,
        };
        if process_wide {
            let misuse: Vec<NumberPoint> = crate::subject::context::Misuse::ALL
                .iter()
                .filter(|m| m.total() > 0)
                .map(|m| point(vec![Attribute::new("kind", m.as_str())], m.total()))
                .collect();
            if !misuse.is_empty() {
                out.push(sum(
                    "telemetry.context.misuse",
                    "Context guards misused: dropped out of order, or held open across an .await.",
                    "{guard}",
                    misuse,
                ));
            }
            let without = crate::macro_support::CALLS_WITHOUT_INSTANCE.load(Ordering::Relaxed);
            if without > 0 {
                out.push(sum(
                    "telemetry.calls.without_instance",
                    "Calls of #[instrument_event] functions that found no telemetry instance (before install).",
                    "{call}",
                    vec![point(vec![], without)],
                ));
            }
        }
        // Coverage as counts that add up across replicas (the fleet ratio
        // is the sum of subjects allowing over the sum of subjects seen).
        let cov = self.consent().coverage.snapshot();
        if cov.subjects_seen > 0 {
            let period_start = SystemTime::UNIX_EPOCH + Duration::from_secs(cov.period_start_secs);
            let gauge = |n: &'static str,
                         d: &'static str,
                         unit: &'static str,
                         points: Vec<NumberPoint>| MetricData {
                name: Cow::Borrowed(n),
                description: Cow::Borrowed(d),
                unit: Cow::Borrowed(unit),
                category: Category::TELEMETRY,
                points: MetricPoints::Gauge { points },
            };
            let count = |attributes: Vec<Attribute>, n: u64| NumberPoint {
                attributes,
                start: period_start,
                time: now,
                value: Number::I64(i64::try_from(n).unwrap_or(i64::MAX)),
                exemplars: Vec::new(),
            };
            out.push(gauge(
                "telemetry.consent.subjects_seen",
                "Distinct subjects seen in the current coverage period (estimated; identifies no subject).",
                "{subject}",
                vec![count(vec![], cov.subjects_seen)],
            ));
            let allowing = cov
                .consenting
                .iter()
                .map(|(c, n)| {
                    count(
                        vec![Attribute::new(crate::export::keys::CATEGORY, name(*c))],
                        *n,
                    )
                })
                .collect();
            out.push(gauge(
                "telemetry.consent.subjects_allowing",
                "Distinct subjects seen in the current coverage period while allowing the category (estimated).",
                "{subject}",
                allowing,
            ));
        }
        if let Some(view) = self.consent().fleet() {
            out.extend(self.fleet_metrics(view, now, start));
        }
        out
    }

    /// How this process's view of a shared consent store is doing: stale
    /// or not, its age, the revocations waiting to be committed and the
    /// subjects cached. Alert on `telemetry.consent.stale` > 0.
    fn fleet_metrics(
        &self,
        view: &crate::consent::view::FleetView,
        now: SystemTime,
        start: SystemTime,
    ) -> Vec<MetricData> {
        let freshness = view.freshness();
        let gauge =
            |n: &'static str, d: &'static str, unit: &'static str, value: Number| MetricData {
                name: Cow::Borrowed(n),
                description: Cow::Borrowed(d),
                unit: Cow::Borrowed(unit),
                category: Category::TELEMETRY,
                points: MetricPoints::Gauge {
                    points: vec![NumberPoint {
                        attributes: Vec::new(),
                        start,
                        time: now,
                        value,
                        exemplars: Vec::new(),
                    }],
                },
            };
        let int = |n: usize| Number::I64(i64::try_from(n).unwrap_or(i64::MAX));
        let mut out = vec![
            gauge(
                "telemetry.consent.stale",
                "1 while this process's view of the shared consent store is older than max_staleness \
                 (categories that require consent are refused), else 0.",
                "1",
                Number::I64(i64::from(freshness.stale)),
            ),
            gauge(
                "telemetry.consent.pending_revocations",
                "Revocations in force here that the shared consent store has not taken yet.",
                "{revocation}",
                int(view.pending()),
            ),
            gauge(
                "telemetry.consent.cached_subjects",
                "Subjects whose consent this process holds in memory.",
                "{subject}",
                int(self.consent().len()),
            ),
        ];
        if let Some(age) = freshness.age {
            out.push(gauge(
                "telemetry.consent.view_age",
                "Time since the shared consent store last confirmed this process's view.",
                "s",
                Number::F64(age.as_secs_f64()),
            ));
        }
        out
    }
}
