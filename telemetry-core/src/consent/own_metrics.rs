//! Consent's own metrics: grants, revocations and deletion requests per
//! category, coverage as counts that add up across replicas, and how this
//! process's view of a shared store is doing. None identifies a subject.

use std::time::{Duration, SystemTime};

use crate::export::Number;
use crate::health::own_metrics::{Kind, OwnMetrics, int};

use super::registry::ConsentRegistry;

impl ConsentRegistry {
    /// Writes consent's metrics into `out`.
    pub(crate) fn report(&self, out: &mut OwnMetrics<'_>) {
        let totals = self.counts.totals();
        let grants: Vec<_> = totals
            .iter()
            .filter(|t| t.1 > 0)
            .map(|(c, g, _)| (vec![out.category(*c)], *g))
            .collect();
        out.counts(
            (
                "telemetry.consent.grants",
                "Consent grants, per category. Identifies no subject.",
                "{grant}",
            ),
            grants,
        );
        let revocations: Vec<_> = totals
            .iter()
            .filter(|t| t.2 > 0)
            .map(|(c, _, r)| (vec![out.category(*c)], *r))
            .collect();
        out.counts(
            (
                "telemetry.consent.revocations",
                "Consent revocations, per category. Identifies no subject.",
                "{revocation}",
            ),
            revocations,
        );
        let deletions: Vec<_> = self
            .counts
            .deletions()
            .into_iter()
            .map(|(c, n)| (vec![out.category(c)], n))
            .collect();
        out.counts(
            (
                "telemetry.consent.deletion_requests",
                "Deletion requests issued (one per revocation that asks downstream stores to delete), per category. Identifies no subject.",
                "{request}",
            ),
            deletions,
        );
        self.report_coverage(out);
        self.report_fleet(out);
    }

    /// Coverage as counts that add up across replicas (the fleet ratio is
    /// the sum of subjects allowing over the sum of subjects seen).
    fn report_coverage(&self, out: &mut OwnMetrics<'_>) {
        let cov = self.coverage.snapshot();
        if cov.subjects_seen == 0 {
            return;
        }
        let period_start = SystemTime::UNIX_EPOCH + Duration::from_secs(cov.period_start_secs);
        out.add(
            Kind::Gauge,
            (
                "telemetry.consent.subjects_seen",
                "Distinct subjects seen in the current coverage period (estimated; identifies no subject).",
                "{subject}",
            ),
            Some(period_start),
            [(Vec::new(), int(cov.subjects_seen))],
        );
        let allowing: Vec<_> = cov
            .consenting
            .iter()
            .map(|(c, n)| (vec![out.category(*c)], int(*n)))
            .collect();
        out.add(
            Kind::Gauge,
            (
                "telemetry.consent.subjects_allowing",
                "Distinct subjects seen in the current coverage period while allowing the category (estimated).",
                "{subject}",
            ),
            Some(period_start),
            allowing,
        );
    }

    /// How this process's view of a shared consent store is doing: stale
    /// or not, its age, the revocations waiting to be committed and the
    /// subjects cached. Alert on `telemetry.consent.stale` > 0.
    fn report_fleet(&self, out: &mut OwnMetrics<'_>) {
        let Some(view) = self.fleet() else {
            return;
        };
        let freshness = view.freshness();
        let mut gauge = |metric, value| out.add(Kind::Gauge, metric, None, [(Vec::new(), value)]);
        gauge(
            (
                "telemetry.consent.stale",
                "1 while this process's view of the shared consent store is older than max_staleness \
                 (categories that require consent are refused), else 0.",
                "1",
            ),
            Number::I64(i64::from(freshness.stale)),
        );
        gauge(
            (
                "telemetry.consent.pending_revocations",
                "Revocations in force here that the shared consent store has not taken yet.",
                "{revocation}",
            ),
            int(view.pending() as u64),
        );
        gauge(
            (
                "telemetry.consent.cached_subjects",
                "Subjects whose consent this process holds in memory.",
                "{subject}",
            ),
            int(self.len() as u64),
        );
        if let Some(age) = freshness.age {
            gauge(
                (
                    "telemetry.consent.view_age",
                    "Time since the shared consent store last confirmed this process's view.",
                    "s",
                ),
                Number::F64(age.as_secs_f64()),
            );
        }
    }
}
