//! Which `tracing` targets and levels are collected, and as which category.

use std::sync::atomic::{AtomicU64, Ordering};

use tracing_core::{Level, Metadata};

use crate::category::Category;

/// Targets whose spans and events are never collected: the libraries the
/// exporters are built on, and this library itself. Collecting them would
/// feed the pipeline's own traffic back into it.
pub const INTERNAL_TARGETS: &[&str] = &[
    "h2",
    "hyper",
    "hyper_util",
    "opentelemetry",
    "opentelemetry_http",
    "opentelemetry_otlp",
    "opentelemetry_proto",
    "opentelemetry_sdk",
    "reqwest",
    "rustls",
    "telemetry_core",
    "telemetry_exporters",
    "tonic",
    "tower",
    "ureq",
    "ureq_proto",
];

/// The field that marks the `tracing` span `#[instrument_event]` makes for
/// other layers; the layer never collects those (the function's own span
/// already is).
pub(crate) const MIRROR_FIELD: &str = "telemetry.mirror";

/// One rule: records of `target` (and its submodules) up to `level` are of
/// `category`.
#[derive(Clone, Debug)]
pub(crate) struct Route {
    pub(crate) target: String,
    pub(crate) level: Level,
    pub(crate) category: Category,
}

/// Whether `target` is `prefix` or inside it (`prefix::…`). The empty
/// prefix matches every target.
pub(crate) fn within(target: &str, prefix: &str) -> bool {
    prefix.is_empty()
        || (target.starts_with(prefix)
            && (target.len() == prefix.len() || target[prefix.len()..].starts_with("::")))
}

/// Whether `target` belongs to a library whose records must never be
/// collected.
pub(crate) fn is_internal(target: &str) -> bool {
    INTERNAL_TARGETS.iter().any(|p| within(target, p))
}

const CACHE_SLOTS: usize = 256;
/// Cache entry value for a callsite that no route collects.
const UNROUTED: u64 = 0xff;

/// The routes, most specific target first, with a small lock-free cache
/// from callsite to category so the hot path does not match strings.
pub(crate) struct Routes {
    routes: Vec<Route>,
    /// Inline (not boxed): one dependent load fewer on the hot path.
    cache: [AtomicU64; CACHE_SLOTS],
}

impl Routes {
    pub(crate) fn new(mut routes: Vec<Route>) -> Routes {
        // Longest target first; for one target, the least verbose level
        // first, so `ERROR → errors` wins over `INFO → business` for errors.
        routes.sort_by(|a, b| {
            b.target
                .len()
                .cmp(&a.target.len())
                .then_with(|| a.target.cmp(&b.target))
                .then_with(|| a.level.cmp(&b.level))
        });
        Routes {
            routes,
            cache: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    /// The most verbose level any route collects.
    pub(crate) fn max_level(&self) -> Option<Level> {
        self.routes.iter().map(|r| r.level).max()
    }

    /// The category of a callsite, or `None` when no route collects it
    /// (unrouted, too verbose, internal, or a macro's mirror). Cached by the
    /// metadata's address, which is stable for a callsite's `'static`
    /// metadata.
    #[inline]
    pub(crate) fn category_of(&self, meta: &'static Metadata<'static>) -> Option<Category> {
        let addr = std::ptr::from_ref(meta) as u64;
        if let Some(hit) = self.cached(addr) {
            return hit;
        }
        let found = self.resolve(meta);
        let tag = found.map_or(UNROUTED, |c| u64::from(c.bit()));
        self.slot(addr).store(
            ((addr & 0x00ff_ffff_ffff_ffff) << 8) | tag,
            Ordering::Relaxed,
        );
        found
    }

    /// Like [`category_of`](Self::category_of) for metadata that may not be
    /// a callsite's (such as the per-record metadata `tracing-log` builds on
    /// the stack): the cache is read, never written.
    #[inline]
    pub(crate) fn category_of_any(&self, meta: &Metadata<'_>) -> Option<Category> {
        let addr = std::ptr::from_ref(meta) as u64;
        match self.cached(addr) {
            Some(hit) => hit,
            None => self.resolve(meta),
        }
    }

    #[inline]
    fn slot(&self, addr: u64) -> &AtomicU64 {
        // Metadata are at least 8-byte aligned; drop the low bits.
        &self.cache[((addr >> 4) as usize) & (CACHE_SLOTS - 1)]
    }

    /// `Some(category)` on a cache hit.
    #[inline]
    fn cached(&self, addr: u64) -> Option<Option<Category>> {
        let v = self.slot(addr).load(Ordering::Relaxed);
        if v != 0 && v >> 8 == addr & 0x00ff_ffff_ffff_ffff {
            Some(match v & 0xff {
                UNROUTED => None,
                bit => Category::from_bit(bit as u8),
            })
        } else {
            None
        }
    }

    /// Matches the routes (no cache).
    pub(crate) fn resolve(&self, meta: &Metadata<'_>) -> Option<Category> {
        let target = meta.target();
        if is_internal(target) || meta.fields().field(MIRROR_FIELD).is_some() {
            return None;
        }
        let mut matched: Option<&str> = None;
        for route in &self.routes {
            if let Some(m) = matched
                && m != route.target
            {
                // Only the most specific matching target decides.
                break;
            }
            if within(target, &route.target) {
                matched = Some(&route.target);
                if *meta.level() <= route.level {
                    return Some(route.category);
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn within_respects_module_boundaries() {
        assert!(within("shop", "shop"));
        assert!(within("shop::cart", "shop"));
        assert!(!within("shopping", "shop"));
        assert!(within("anything", ""));
        assert!(is_internal("hyper::proto::h1"));
        assert!(is_internal("tonic"));
        assert!(!is_internal("hyperion"));
        assert!(!is_internal("tower_http::trace"));
    }
}
