//! The consent policy: for each category, whether consent is required and
//! what a subject with no recorded choice gets.

use crate::category::{Category, CategoryNames, CategorySet};
use crate::error::{ConfigError, ConfigErrorKind};
use crate::subject::Choices;

/// What a subject with no recorded choice gets in a category that requires
/// consent.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ConsentDefault {
    /// Denied until granted.
    OptIn,
    /// Granted until revoked.
    OptOut,
}

/// The answer for one subject and category.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentState {
    /// The category needs no consent.
    Exempt,
    /// The subject granted it.
    Granted,
    /// The subject refused or revoked it.
    Denied,
    /// No recorded choice: denied under opt-in, granted under opt-out.
    NoAnswer {
        /// Whether the policy default grants it.
        default_granted: bool,
    },
}

impl ConsentState {
    /// Whether records may be kept under this state.
    pub fn allows(self) -> bool {
        match self {
            ConsentState::Exempt | ConsentState::Granted => true,
            ConsentState::Denied => false,
            ConsentState::NoAnswer { default_granted } => default_granted,
        }
    }
}

/// The service's consent policy, written in code.
///
/// Every category requires consent unless it is declared
/// [`exempt`](ConsentPolicy::exempt): a category nobody thought about is
/// denied, not collected by accident. The library's own
/// [`Category::TELEMETRY`] records are always exempt.
///
/// ```
/// use telemetry_core::{Category, ConsentPolicy};
/// let policy = ConsentPolicy::opt_in()
///     .require(Category::INTERACTION)
///     .require(Category::BUSINESS)
///     .require_opt_out(Category::PERFORMANCE)
///     .exempt(Category::RESOURCE)
///     .exempt(Category::ERRORS);
/// ```
#[derive(Clone, Debug)]
pub struct ConsentPolicy {
    default: ConsentDefault,
    exempt: CategorySet,
    opt_in: CategorySet,
    opt_out: CategorySet,
    required: CategorySet,
    keep_on_revoke: CategorySet,
    version: u32,
    conflicts: Vec<(Category, &'static str, &'static str)>,
}

impl ConsentPolicy {
    /// Categories that require consent are denied until the subject grants them.
    pub fn opt_in() -> Self {
        Self::with_default(ConsentDefault::OptIn)
    }

    /// Categories that require consent are granted until the subject revokes them.
    pub fn opt_out() -> Self {
        Self::with_default(ConsentDefault::OptOut)
    }

    fn with_default(default: ConsentDefault) -> Self {
        ConsentPolicy {
            default,
            exempt: CategorySet::EMPTY,
            opt_in: CategorySet::EMPTY,
            opt_out: CategorySet::EMPTY,
            required: CategorySet::EMPTY,
            keep_on_revoke: CategorySet::EMPTY,
            version: 1,
            conflicts: Vec::new(),
        }
    }

    fn mark(mut self, category: Category, how: &'static str) -> Self {
        let previous = [
            (self.exempt, "exempt"),
            (self.opt_in, "require_opt_in"),
            (self.opt_out, "require_opt_out"),
            (self.required, "require"),
        ];
        for (set, name) in previous {
            if set.contains(category) && name != how {
                self.conflicts.push((category, name, how));
            }
        }
        match how {
            "exempt" => self.exempt = self.exempt.with(category),
            "require_opt_in" => self.opt_in = self.opt_in.with(category),
            "require_opt_out" => self.opt_out = self.opt_out.with(category),
            _ => self.required = self.required.with(category),
        }
        self
    }

    /// `category` requires consent, with the policy's default.
    pub fn require(self, category: Category) -> Self {
        self.mark(category, "require")
    }

    /// `category` requires consent and is denied until granted.
    pub fn require_opt_in(self, category: Category) -> Self {
        self.mark(category, "require_opt_in")
    }

    /// `category` requires consent and is granted until revoked.
    pub fn require_opt_out(self, category: Category) -> Self {
        self.mark(category, "require_opt_out")
    }

    /// `category` needs no consent (e.g. resource utilization with no
    /// personal data). Its records are anonymous: no subject key and no
    /// hashed value, unless the subject granted the category explicitly.
    /// `DO_NOT_TRACK` does not deny it.
    pub fn exempt(self, category: Category) -> Self {
        self.mark(category, "exempt")
    }

    /// On revocation of `category`, keep what was captured while consent was
    /// given instead of purging it from the buffers. No deletion request is
    /// exported for it: what was captured is meant to stay.
    pub fn keep_on_revoke(mut self, category: Category) -> Self {
        self.keep_on_revoke = self.keep_on_revoke.with(category);
        self
    }

    /// The policy version recorded in every consent audit entry.
    pub fn version(mut self, version: u32) -> Self {
        self.version = version;
        self
    }

    /// The policy version.
    pub fn policy_version(&self) -> u32 {
        self.version
    }

    /// The default for categories marked with [`require`](Self::require) or not mentioned.
    pub fn default_mode(&self) -> ConsentDefault {
        self.default
    }

    /// Categories that need no consent.
    pub fn exempt_set(&self) -> CategorySet {
        CategorySet::from_bits(self.exempt.bits() | Category::TELEMETRY.mask())
    }

    /// Categories the policy names explicitly (exempt or required).
    pub fn mentioned(&self) -> CategorySet {
        CategorySet::from_bits(
            self.exempt.bits() | self.opt_in.bits() | self.opt_out.bits() | self.required.bits(),
        )
    }

    /// Categories that require consent.
    pub fn required_set(&self) -> CategorySet {
        CategorySet::from_bits(!self.exempt_set().bits())
    }

    /// Categories whose captured data survives a revocation.
    pub fn keep_on_revoke_set(&self) -> CategorySet {
        self.keep_on_revoke
    }

    /// Required categories granted to a subject with no recorded choice.
    fn default_granted(&self) -> u64 {
        let by_default = match self.default {
            ConsentDefault::OptOut => !self.opt_in.bits(),
            ConsentDefault::OptIn => self.opt_out.bits(),
        };
        by_default & self.required_set().bits()
    }

    /// The effective mask of categories a subject's records may be kept in.
    pub(crate) fn effective(&self, choices: Choices, do_not_track: bool) -> u64 {
        let exempt = self.exempt_set().bits();
        if do_not_track {
            return exempt;
        }
        let granted = choices.granted.bits() | (self.default_granted() & !choices.denied.bits());
        exempt | (self.required_set().bits() & granted)
    }

    /// The categories in which a subject with `choices` is identified (its
    /// records carry its pseudonymous key and hashed values): those that
    /// require consent and are allowed, plus exempt ones the subject granted
    /// explicitly. A record admitted only because its category is exempt is
    /// anonymous. Under `DO_NOT_TRACK`, none.
    pub(crate) fn identified(&self, choices: Choices, do_not_track: bool) -> u64 {
        if do_not_track {
            return 0;
        }
        let exempt = self.exempt_set().bits();
        (self.effective(choices, false) & !exempt) | (choices.granted.bits() & exempt)
    }

    /// The mask for records made outside any subject scope: exempt categories,
    /// and required categories whose default is opt-out.
    pub(crate) fn no_subject_mask(&self, do_not_track: bool) -> u64 {
        self.effective(Choices::default(), do_not_track)
    }

    /// The state of `category` for a subject with `choices`.
    pub(crate) fn state(&self, choices: Choices, category: Category) -> ConsentState {
        if self.exempt_set().contains(category) {
            ConsentState::Exempt
        } else if choices.granted.contains(category) {
            ConsentState::Granted
        } else if choices.denied.contains(category) {
            ConsentState::Denied
        } else {
            ConsentState::NoAnswer {
                default_granted: self.default_granted() & category.mask() != 0,
            }
        }
    }

    pub(crate) fn validate(&self, names: &CategoryNames) -> Result<(), ConfigError> {
        if let Some((category, first, second)) = self.conflicts.first() {
            return Err(ConfigError::new(
                ConfigErrorKind::ConflictingConsent,
                format!(
                    "the consent policy marks category `{}` both `{first}` and `{second}`; \
                     keep one of the two calls",
                    names.name(*category)
                ),
            ));
        }
        Ok(())
    }
}

impl Default for ConsentPolicy {
    /// The policy of a service that sets none: performance, errors and
    /// resource utilization are exempt (their records are anonymous: no
    /// subject key, no hashed value), interaction and business data are
    /// opt-in, and every other category requires consent, opt-in.
    fn default() -> Self {
        Self::opt_in()
            .exempt(Category::PERFORMANCE)
            .exempt(Category::ERRORS)
            .exempt(Category::RESOURCE)
            .require(Category::INTERACTION)
            .require(Category::BUSINESS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn choices(granted: &[Category], denied: &[Category]) -> Choices {
        Choices {
            granted: granted.iter().copied().collect(),
            denied: denied.iter().copied().collect(),
        }
    }

    #[test]
    fn opt_in_denies_until_granted() {
        let p = ConsentPolicy::opt_in()
            .require(Category::BUSINESS)
            .exempt(Category::RESOURCE);
        let none = p.effective(Choices::default(), false);
        assert_eq!(none & Category::BUSINESS.mask(), 0);
        assert_ne!(none & Category::RESOURCE.mask(), 0);
        assert_ne!(
            none & Category::TELEMETRY.mask(),
            0,
            "own records are exempt"
        );
        assert_eq!(
            none & Category::PERFORMANCE.mask(),
            0,
            "unmentioned means required"
        );
        let g = p.effective(choices(&[Category::BUSINESS], &[]), false);
        assert_ne!(g & Category::BUSINESS.mask(), 0);
    }

    #[test]
    fn opt_out_grants_until_revoked() {
        let p = ConsentPolicy::opt_out().require(Category::INTERACTION);
        let m = p.effective(Choices::default(), false);
        assert_ne!(m & Category::INTERACTION.mask(), 0);
        let m = p.effective(choices(&[], &[Category::INTERACTION]), false);
        assert_eq!(m & Category::INTERACTION.mask(), 0);
    }

    #[test]
    fn per_category_modes_override_the_default() {
        let p = ConsentPolicy::opt_in().require_opt_out(Category::PERFORMANCE);
        let m = p.effective(Choices::default(), false);
        assert_ne!(m & Category::PERFORMANCE.mask(), 0);
        assert_eq!(m & Category::BUSINESS.mask(), 0);
        let p = ConsentPolicy::opt_out().require_opt_in(Category::BUSINESS);
        let m = p.effective(Choices::default(), false);
        assert_eq!(m & Category::BUSINESS.mask(), 0);
        assert_ne!(m & Category::PERFORMANCE.mask(), 0);
    }

    #[test]
    fn do_not_track_denies_every_required_category_even_granted() {
        let p = ConsentPolicy::opt_out().exempt(Category::RESOURCE);
        let m = p.effective(choices(&[Category::BUSINESS], &[]), true);
        assert_eq!(m, Category::RESOURCE.mask() | Category::TELEMETRY.mask());
    }

    #[test]
    fn states() {
        let p = ConsentPolicy::opt_in().exempt(Category::RESOURCE);
        let c = choices(&[Category::BUSINESS], &[Category::INTERACTION]);
        assert_eq!(p.state(c, Category::RESOURCE), ConsentState::Exempt);
        assert_eq!(p.state(c, Category::BUSINESS), ConsentState::Granted);
        assert_eq!(p.state(c, Category::INTERACTION), ConsentState::Denied);
        assert_eq!(
            p.state(c, Category::PERFORMANCE),
            ConsentState::NoAnswer {
                default_granted: false
            }
        );
    }

    #[test]
    fn contradictions_are_config_errors() {
        let p = ConsentPolicy::opt_in()
            .exempt(Category::BUSINESS)
            .require(Category::BUSINESS);
        let err = p.validate(&CategoryNames::default()).unwrap_err();
        assert_eq!(err.kind(), ConfigErrorKind::ConflictingConsent);
        assert!(
            err.to_string()
                .contains("`business` both `exempt` and `require`"),
            "{err}"
        );
    }
}
