//! Control records (audit entries, deletion requests): queued apart from
//! the data, so a full data queue never loses one, and kept for each
//! exporter until it takes them. A deletion request from a shared store's
//! outbox carries a receipt that reports it delivered once every exporter
//! took it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::category::Category;
use crate::export::LogRecord;
use crate::health::drops::DropCause;

use super::{Host, Pipeline};

/// Most control records (audit entries, deletion requests) held for
/// delivery, per exporter: kept across failed exports until delivered.
pub(super) const MAX_CONTROL: usize = 65_536;

/// A control record (audit entry, deletion request) and, for a deletion
/// request from a shared store's outbox, the receipt that reports it
/// delivered once every exporter took it.
#[derive(Clone)]
pub(crate) struct Control {
    pub(crate) record: LogRecord,
    receipt: Option<Arc<Receipt>>,
}

/// Counts the exporters that still have to take an outbox entry.
struct Receipt {
    outbox: u64,
    remaining: AtomicUsize,
}

impl Control {
    /// One exporter took it: the last one reports the outbox entry
    /// delivered.
    pub(super) fn taken(&self, host: &dyn Host) {
        if let Some(r) = &self.receipt
            && r.remaining.fetch_sub(1, Ordering::AcqRel) == 1
        {
            host.delivered(r.outbox);
        }
    }
}

impl Pipeline {
    /// Queues a control record (audit entry, deletion request): never lost
    /// to a full data queue, and kept until every exporter took it.
    pub(crate) fn push_control(&self, host: &impl Host, record: LogRecord) {
        self.push_control_entry(
            host,
            Control {
                record,
                receipt: None,
            },
        );
    }

    /// Like [`push_control`](Self::push_control) for a deletion request
    /// kept in a shared store's outbox as entry `outbox`: the host hears
    /// when every exporter took it (at once if there is no exporter).
    pub(crate) fn push_outbox(&self, host: &impl Host, record: LogRecord, outbox: u64) {
        if self.exporter_count == 0 {
            host.delivered(outbox);
            return;
        }
        let receipt = Arc::new(Receipt {
            outbox,
            remaining: AtomicUsize::new(self.exporter_count),
        });
        self.push_control_entry(
            host,
            Control {
                record,
                receipt: Some(receipt),
            },
        );
    }

    fn push_control_entry(&self, host: &impl Host, control: Control) {
        let mut held = self.lock_held();
        if held.control.len() < MAX_CONTROL {
            held.control.push(control);
            self.control_pending.store(true, Ordering::Release);
        } else {
            drop(held);
            host.count_drop(DropCause::QueueFull, Category::TELEMETRY, 1);
        }
    }
}
