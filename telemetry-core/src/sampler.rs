//! The sampler: a probability per category, decided deterministically from
//! the trace id, parent-based, with errors kept and a per-category rate limit.
//!
//! Sampling runs after consent: a record of a category the subject has not
//! consented to never reaches the sampler.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::category::{Category, CategoryNames};
use crate::error::{ConfigError, ConfigErrorKind};
use crate::trace::{TraceId, TraceIdRule};

/// How records are sampled, per category.
///
/// ```
/// use telemetry_core::{Category, Sampler};
/// let sampler = Sampler::per_category([(Category::PERFORMANCE, 0.1)])
///     .default_probability(1.0)
///     .rate_limit(Category::INTERACTION, 500)
///     .keep_errors();
/// ```
#[derive(Clone, Debug)]
pub struct Sampler {
    default: f64,
    rates: Vec<(Category, f64)>,
    limits: Vec<(Category, u32)>,
    keep_errors: bool,
    rule: TraceIdRule,
}

impl Default for Sampler {
    /// Keep everything, errors included.
    fn default() -> Self {
        Sampler::always()
    }
}

impl Sampler {
    /// Keep every record.
    pub fn always() -> Self {
        Sampler {
            default: 1.0,
            rates: Vec::new(),
            limits: Vec::new(),
            keep_errors: true,
            rule: TraceIdRule::Consistent,
        }
    }

    /// Keep each trace (and each record outside a trace) with probability `p`.
    pub fn ratio(p: f64) -> Self {
        Sampler {
            default: p,
            ..Self::always()
        }
    }

    /// A probability per category; categories not listed are kept (see
    /// [`default_probability`](Self::default_probability)).
    pub fn per_category(rates: impl IntoIterator<Item = (Category, f64)>) -> Self {
        Sampler {
            rates: rates.into_iter().collect(),
            ..Self::always()
        }
    }

    /// The probability for categories not listed.
    pub fn default_probability(mut self, p: f64) -> Self {
        self.default = p;
        self
    }

    /// Sets the probability of one category.
    pub fn probability(mut self, category: Category, p: f64) -> Self {
        self.rates.push((category, p));
        self
    }

    /// Keep error records (events in [`Category::ERRORS`], error-severity
    /// records) whatever the probability. This is the default.
    pub fn keep_errors(mut self) -> Self {
        self.keep_errors = true;
        self
    }

    /// Which rule turns a trace id and a probability into a decision
    /// (default [`TraceIdRule::Consistent`]).
    pub fn trace_id_rule(mut self, rule: TraceIdRule) -> Self {
        self.rule = rule;
        self
    }

    /// Whether a trace with id `trace_id` and no sampled parent is kept for
    /// `category` (the probability of the category, or the default, under
    /// the configured rule): the decision every process with this sampler
    /// makes, for analysis and for checking agreement with other samplers.
    pub fn samples_trace(&self, category: Category, trace_id: TraceId) -> bool {
        let p = self
            .rates
            .iter()
            .rev()
            .find(|(c, _)| *c == category)
            .map_or(self.default, |(_, p)| *p);
        decide(self.rule, bound(self.rule, p), trace_id)
    }

    /// Sample error records like any other.
    pub fn sample_errors(mut self) -> Self {
        self.keep_errors = false;
        self
    }

    /// At most `per_second` records of `category` per second; the rest are
    /// dropped and counted with cause `rate_limit`.
    pub fn rate_limit(mut self, category: Category, per_second: u32) -> Self {
        self.limits.push((category, per_second));
        self
    }

    pub(crate) fn compile(&self, names: &CategoryNames) -> Result<CompiledSampler, ConfigError> {
        let check = |what: String, p: f64| {
            if (0.0..=1.0).contains(&p) {
                Ok(())
            } else {
                Err(ConfigError::new(
                    ConfigErrorKind::InvalidProbability,
                    format!(
                        "{what} is {p}, but a probability must be between 0.0 and 1.0 inclusive (0.1 keeps one record in ten)"
                    ),
                ))
            }
        };
        check("the sampler's default probability".to_owned(), self.default)?;
        let mut probability = [self.default; Category::COUNT];
        let mut seen = 0u64;
        for (cat, p) in &self.rates {
            check(
                format!(
                    "the sampling probability of category `{}`",
                    names.name(*cat)
                ),
                *p,
            )?;
            if seen & cat.mask() != 0 {
                return Err(ConfigError::new(
                    ConfigErrorKind::DuplicateCategory,
                    format!(
                        "the sampler sets the probability of category `{}` twice; keep one",
                        names.name(*cat)
                    ),
                ));
            }
            seen |= cat.mask();
            probability[cat.bit() as usize] = *p;
        }
        let mut limits: Vec<Option<RateLimiter>> = (0..Category::COUNT).map(|_| None).collect();
        for (cat, n) in &self.limits {
            if *n == 0 {
                return Err(ConfigError::new(
                    ConfigErrorKind::InvalidLimit,
                    format!(
                        "the rate limit of category `{}` is 0 per second; use a probability of 0.0 to drop a category",
                        names.name(*cat)
                    ),
                ));
            }
            limits[cat.bit() as usize] = Some(RateLimiter::new(*n));
        }
        // Telemetry's own records are never sampled.
        probability[Category::TELEMETRY.bit() as usize] = 1.0;
        Ok(CompiledSampler {
            threshold: probability.map(|p| bound(self.rule, p)),
            rule: self.rule,
            probability,
            limits,
            keep_errors: self.keep_errors,
        })
    }
}

/// The number of the 2⁵⁶ values of a trace id's low 56 bits that probability
/// `p` keeps (`u64::MAX` for always). `sample_trace` keeps the top ones: a
/// trace whose bits reach the rejection threshold `2⁵⁶ − keep`, as in
/// OpenTelemetry's consistent probability sampling.
fn threshold(p: f64) -> u64 {
    if p >= 1.0 {
        u64::MAX
    } else {
        (p * (1u64 << 56) as f64) as u64
    }
}

/// The bound `rule` compares a trace id with for probability `p`
/// (`u64::MAX`: keep all).
fn bound(rule: TraceIdRule, p: f64) -> u64 {
    match rule {
        TraceIdRule::Consistent => threshold(p),
        TraceIdRule::OtelRustSdk if p >= 1.0 => u64::MAX,
        // As the SDK computes it: `(prob.max(0.0) * (1u64 << 63) as f64) as u64`.
        TraceIdRule::OtelRustSdk => (p.max(0.0) * (1u64 << 63) as f64) as u64,
    }
}

/// Whether `rule` keeps `trace` under `bound`.
#[inline]
fn decide(rule: TraceIdRule, bound: u64, trace: TraceId) -> bool {
    if bound == u64::MAX {
        return true;
    }
    match rule {
        // OpenTelemetry's consistent probability sampling: keep when the
        // trace's 56 random bits reach the rejection threshold 2^56 (1 - p),
        // so every service with the same or a higher probability keeps it.
        TraceIdRule::Consistent => ((trace.0 as u64) & ((1 << 56) - 1)) >= (1u64 << 56) - bound,
        TraceIdRule::OtelRustSdk => ((trace.0 as u64) >> 1) < bound,
    }
}

pub(crate) struct CompiledSampler {
    probability: [f64; Category::COUNT],
    threshold: [u64; Category::COUNT],
    rule: TraceIdRule,
    limits: Vec<Option<RateLimiter>>,
    pub(crate) keep_errors: bool,
}

impl CompiledSampler {
    #[inline]
    pub(crate) fn probability(&self, category: Category) -> f64 {
        self.probability[category.bit() as usize]
    }

    /// Whether a record of `category` in trace `trace` is kept (same answer
    /// in every process for the same trace id).
    #[inline]
    pub(crate) fn sample_trace(&self, category: Category, trace: TraceId) -> bool {
        decide(self.rule, self.threshold[category.bit() as usize], trace)
    }

    /// Whether a record outside any trace is kept.
    #[inline]
    pub(crate) fn sample_random(&self, category: Category) -> bool {
        let t = self.threshold[category.bit() as usize];
        if t == u64::MAX {
            return true;
        }
        match self.rule {
            TraceIdRule::Consistent => (crate::trace::next_random() >> 8) < t,
            TraceIdRule::OtelRustSdk => (crate::trace::next_random() >> 1) < t,
        }
    }

    /// Whether the category's rate limit lets one more record through.
    #[inline]
    pub(crate) fn admit(&self, category: Category, now_secs: u64) -> bool {
        match &self.limits[category.bit() as usize] {
            None => true,
            Some(l) => l.admit(now_secs),
        }
    }
}

/// A fixed one-second window counter, lock-free.
struct RateLimiter {
    per_second: u32,
    /// High 32 bits: the second; low 32 bits: records admitted in it.
    state: AtomicU64,
}

impl RateLimiter {
    fn new(per_second: u32) -> Self {
        RateLimiter {
            per_second,
            state: AtomicU64::new(0),
        }
    }

    fn admit(&self, now_secs: u64) -> bool {
        let now = now_secs & 0xffff_ffff;
        let mut cur = self.state.load(Ordering::Relaxed);
        loop {
            let (sec, n) = (cur >> 32, cur & 0xffff_ffff);
            let next = if sec != now {
                (now << 32) | 1
            } else if n < u64::from(self.per_second) {
                cur + 1
            } else {
                return false;
            };
            match self
                .state
                .compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(actual) => cur = actual,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> CategoryNames {
        CategoryNames::default()
    }

    #[test]
    fn invalid_probabilities_are_rejected_with_the_fix() {
        for bad in [-0.1, 1.5, f64::NAN] {
            let err = Sampler::per_category([(Category::PERFORMANCE, bad)])
                .compile(&names())
                .err()
                .unwrap();
            assert_eq!(err.kind(), ConfigErrorKind::InvalidProbability);
            let msg = err.to_string();
            assert!(
                msg.contains("`performance`") && msg.contains("between 0.0 and 1.0"),
                "{msg}"
            );
        }
        let err = Sampler::ratio(2.0).compile(&names()).err().unwrap();
        assert!(
            err.to_string().contains("default probability is 2"),
            "{err}"
        );
    }

    #[test]
    fn duplicate_category_is_rejected() {
        let err = Sampler::per_category([(Category::BUSINESS, 0.5), (Category::BUSINESS, 0.2)])
            .compile(&names())
            .err()
            .unwrap();
        assert_eq!(err.kind(), ConfigErrorKind::DuplicateCategory);
    }

    #[test]
    fn trace_sampling_is_deterministic_and_close_to_the_rate() {
        let s = Sampler::per_category([(Category::PERFORMANCE, 0.25)])
            .compile(&names())
            .unwrap();
        let mut kept = 0;
        for _ in 0..20_000 {
            let t = TraceId::random();
            let a = s.sample_trace(Category::PERFORMANCE, t);
            assert_eq!(a, s.sample_trace(Category::PERFORMANCE, t));
            kept += usize::from(a);
        }
        assert!(
            (4_400..5_600).contains(&kept),
            "kept {kept} of 20000 at 0.25"
        );
        assert!(
            s.sample_trace(Category::BUSINESS, TraceId(u128::MAX)),
            "default keeps all"
        );
    }

    #[test]
    fn lower_rate_keeps_a_subset_of_higher_rate() {
        let s = Sampler::per_category([(Category::PERFORMANCE, 0.1), (Category::BUSINESS, 0.5)])
            .compile(&names())
            .unwrap();
        for _ in 0..5_000 {
            let t = TraceId::random();
            if s.sample_trace(Category::PERFORMANCE, t) {
                assert!(s.sample_trace(Category::BUSINESS, t));
            }
        }
    }

    #[test]
    fn rate_limit_admits_per_second() {
        let l = RateLimiter::new(3);
        assert!((0..3).all(|_| l.admit(10)));
        assert!(!l.admit(10));
        assert!(l.admit(11));
    }
}
