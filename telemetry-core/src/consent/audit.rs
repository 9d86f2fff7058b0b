//! The consent audit trail and the identifier-free counters of grants,
//! revocations and consent coverage.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use crate::category::{Category, CategorySet};
use crate::consent::policy::ConsentState;
use crate::subject::SubjectKey;

/// Who or what changed consent.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentSource {
    /// The subject, through the service's consent UI or API.
    User,
    /// An operator or support staff acting on the subject's request.
    Operator,
    /// Imported from an upstream service or an earlier system.
    Import,
    /// Something else, named by the service.
    Other(Cow<'static, str>),
}

impl ConsentSource {
    /// The source as a short string (`user`, `operator`, ...).
    pub fn as_str(&self) -> &str {
        match self {
            ConsentSource::User => "user",
            ConsentSource::Operator => "operator",
            ConsentSource::Import => "import",
            ConsentSource::Other(s) => s,
        }
    }
}

/// One audited consent change.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ConsentChange {
    /// Pseudonymous subject.
    pub subject: SubjectKey,
    /// Category changed.
    pub category: Category,
    /// State before.
    pub old: ConsentState,
    /// State after.
    pub new: ConsentState,
    /// Who changed it.
    pub source: ConsentSource,
    /// The consent policy version in force.
    pub policy_version: u32,
    /// When.
    pub time: SystemTime,
}

/// A bounded in-memory audit trail (oldest entries go first). Every entry is
/// also exported as a `telemetry.consent.changed` record.
#[derive(Debug)]
pub(crate) struct AuditTrail {
    entries: Mutex<VecDeque<ConsentChange>>,
    capacity: usize,
}

impl AuditTrail {
    pub(crate) fn new(capacity: usize) -> Self {
        AuditTrail {
            entries: Mutex::new(VecDeque::new()),
            capacity,
        }
    }

    pub(crate) fn push(&self, change: ConsentChange) {
        if let Ok(mut e) = self.entries.lock() {
            if e.len() >= self.capacity {
                e.pop_front();
            }
            e.push_back(change);
        }
    }

    pub(crate) fn snapshot(&self) -> Vec<ConsentChange> {
        self.entries
            .lock()
            .map(|e| e.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// Identifier-free counts: grants and revocations per category, and the
/// consent coverage of the current period.
#[derive(Debug)]
pub(crate) struct ConsentCounts {
    grants: [AtomicU64; Category::COUNT],
    revocations: [AtomicU64; Category::COUNT],
    coverage: Mutex<Coverage>,
    period_secs: u64,
}

#[derive(Debug, Clone)]
struct Coverage {
    period: u64,
    seen: u64,
    consenting: [u64; Category::COUNT],
}

/// Consent coverage of one period: how many subjects were seen, and how many
/// of them allowed each category. No subject is identified.
#[derive(Clone, Debug, PartialEq)]
pub struct CoverageSnapshot {
    /// Period start, seconds since the Unix epoch.
    pub period_start_secs: u64,
    /// Length of a period in seconds.
    pub period_secs: u64,
    /// Distinct subjects seen in the period.
    pub subjects_seen: u64,
    /// For each category: subjects seen in the period that allowed it.
    pub consenting: Vec<(Category, u64)>,
}

impl CoverageSnapshot {
    /// Share of subjects seen that allowed `category` (0 when none was seen).
    pub fn ratio(&self, category: Category) -> f64 {
        let n = self
            .consenting
            .iter()
            .find(|(c, _)| *c == category)
            .map_or(0, |(_, n)| *n);
        if self.subjects_seen == 0 {
            0.0
        } else {
            n as f64 / self.subjects_seen as f64
        }
    }
}

impl ConsentCounts {
    pub(crate) fn new(period_secs: u64) -> Self {
        ConsentCounts {
            grants: std::array::from_fn(|_| AtomicU64::new(0)),
            revocations: std::array::from_fn(|_| AtomicU64::new(0)),
            coverage: Mutex::new(Coverage {
                period: 0,
                seen: 0,
                consenting: [0; Category::COUNT],
            }),
            period_secs: period_secs.max(1),
        }
    }

    pub(crate) fn period_now(&self) -> u64 {
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            / self.period_secs
    }

    pub(crate) fn granted(&self, category: Category) {
        self.grants[category.bit() as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn revoked(&self, category: Category) {
        self.revocations[category.bit() as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Grants and revocations so far, per category with a non-zero count.
    pub(crate) fn totals(&self) -> Vec<(Category, u64, u64)> {
        (0..Category::COUNT)
            .filter_map(|i| {
                let g = self.grants[i].load(Ordering::Relaxed);
                let r = self.revocations[i].load(Ordering::Relaxed);
                let c = Category::from_bit(i as u8)?;
                (g + r > 0).then_some((c, g, r))
            })
            .collect()
    }

    /// Records that a subject allowing `allowed` was seen in `period`
    /// (called once per subject and period).
    pub(crate) fn seen(&self, period: u64, allowed: u64, required: CategorySet) {
        if let Ok(mut c) = self.coverage.lock() {
            if c.period != period {
                *c = Coverage {
                    period,
                    seen: 0,
                    consenting: [0; Category::COUNT],
                };
            }
            c.seen += 1;
            for cat in CategorySet::from_bits(allowed & required.bits()).iter() {
                c.consenting[cat.bit() as usize] += 1;
            }
        }
    }

    pub(crate) fn coverage(&self, required: CategorySet) -> CoverageSnapshot {
        let current = self.period_now();
        let c = self.coverage.lock().map(|c| c.clone()).ok();
        let (seen, consenting) = match c {
            Some(c) if c.period == current => (c.seen, c.consenting),
            _ => (0, [0; Category::COUNT]),
        };
        CoverageSnapshot {
            period_start_secs: current * self.period_secs,
            period_secs: self.period_secs,
            subjects_seen: seen,
            consenting: required
                .iter()
                .filter(|c| *c != Category::TELEMETRY)
                .map(|c| (c, consenting[c.bit() as usize]))
                .collect(),
        }
    }
}
