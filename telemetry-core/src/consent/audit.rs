//! The consent audit trail and the identifier-free counters of grants and
//! revocations.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use crate::category::Category;
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

/// Identifier-free counts of grants and revocations per category.
#[derive(Debug)]
pub(crate) struct ConsentCounts {
    grants: [AtomicU64; Category::COUNT],
    revocations: [AtomicU64; Category::COUNT],
    deletions: [AtomicU64; Category::COUNT],
}

impl ConsentCounts {
    pub(crate) fn new() -> Self {
        ConsentCounts {
            grants: std::array::from_fn(|_| AtomicU64::new(0)),
            revocations: std::array::from_fn(|_| AtomicU64::new(0)),
            deletions: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    /// A deletion request was issued for `categories`.
    pub(crate) fn deletion_requested(&self, categories: crate::category::CategorySet) {
        for c in categories.iter() {
            if let Some(n) = self.deletions.get(c.bit() as usize) {
                n.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Deletion requests issued so far, per category with a non-zero count.
    pub(crate) fn deletions(&self) -> Vec<(Category, u64)> {
        (0..Category::COUNT)
            .filter_map(|i| {
                let n = self.deletions.get(i)?.load(Ordering::Relaxed);
                let c = Category::from_bit(i as u8)?;
                (n > 0).then_some((c, n))
            })
            .collect()
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
}
