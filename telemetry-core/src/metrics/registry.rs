//! Every instrument of one instance, and what each one is (its
//! description and series), collected by the export worker.

use std::borrow::Cow;
use std::sync::Arc;

use crate::category::Category;
use crate::error::{ConfigError, ConfigErrorKind};
use crate::export::MetricData;
use crate::metrics::series::SeriesTable;

/// What one instrument is: its description and its series.
pub(crate) struct InstrumentCore {
    pub(crate) name: Cow<'static, str>,
    pub(crate) description: Cow<'static, str>,
    pub(crate) unit: Cow<'static, str>,
    pub(crate) category: Category,
    pub(crate) table: SeriesTable,
}

impl InstrumentCore {
    pub(crate) fn collect(&self) -> Option<MetricData> {
        self.table.collect().map(|points| MetricData {
            name: self.name.clone(),
            description: self.description.clone(),
            unit: self.unit.clone(),
            category: self.category,
            points,
        })
    }
}

/// Every instrument of one telemetry instance.
#[derive(Default)]
pub(crate) struct MetricRegistry {
    instruments: std::sync::Mutex<Vec<Arc<InstrumentCore>>>,
}

impl MetricRegistry {
    pub(crate) fn register(
        &self,
        core: InstrumentCore,
    ) -> Result<Arc<InstrumentCore>, ConfigError> {
        let mut all = self.instruments.lock().map_err(|_| {
            ConfigError::new(
                ConfigErrorKind::InvalidMetric,
                "metric registry lock poisoned",
            )
        })?;
        // One name is one metric: an instrument of the same name in another
        // category is another part of the same family (its own consent
        // check), so kind, unit and attributes must agree.
        let same_family = |existing: &InstrumentCore| {
            existing.table.kind == core.table.kind
                && existing.table.declared == core.table.declared
                && existing.unit == core.unit
        };
        if let Some(existing) = all
            .iter()
            .find(|c| c.name == core.name && c.category == core.category)
            && same_family(existing)
        {
            return Ok(existing.clone());
        }
        if let Some(existing) = all.iter().find(|c| c.name == core.name)
            && !(same_family(existing) && existing.category != core.category)
        {
            return Err(ConfigError::new(
                ConfigErrorKind::InvalidMetric,
                format!(
                    "metric `{}` already exists as a {} in `{}` with unit `{}` and attributes {:?}; \
                     a metric name must always mean the same kind of instrument, unit and \
                     attributes (in any category): rename one of them",
                    core.name,
                    existing.table.kind.name(),
                    existing.category,
                    existing.unit,
                    existing.table.declared
                ),
            ));
        }
        let core = Arc::new(core);
        all.push(core.clone());
        Ok(core)
    }

    pub(crate) fn collect(&self) -> Vec<MetricData> {
        let all = match self.instruments.lock() {
            Ok(all) => all.clone(),
            Err(_) => return Vec::new(),
        };
        all.iter().filter_map(|c| c.collect()).collect()
    }

    /// Every cumulative instrument as it is now; reads only, so a pull
    /// exporter can call it at any time. Delta instruments are left out:
    /// reading them resets them, and their data belongs to the push
    /// exporters.
    pub(crate) fn snapshot(&self) -> Vec<MetricData> {
        let all = match self.instruments.lock() {
            Ok(all) => all.clone(),
            Err(_) => return Vec::new(),
        };
        all.iter()
            .filter(|c| !c.table.is_delta())
            .filter_map(|c| c.collect())
            .collect()
    }
}
