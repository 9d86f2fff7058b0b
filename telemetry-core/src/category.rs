//! Categories of collected data, and sets of them.
//!
//! A category says what kind of data a record is (performance, errors, user
//! interaction, resource utilization, business events, or one the service
//! defines). Consent is given per category, so a consent check is a single
//! bit test against a [`CategorySet`].

use std::fmt;

/// What kind of data a record is. Consent and sampling are decided per category.
///
/// There are 64 categories: the built-in ones below, two reserved for future
/// built-ins, and 56 the service can define with [`Category::custom`] and name
/// with [`TelemetryBuilder::category`](crate::TelemetryBuilder::category).
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Category(u8);

impl Category {
    /// Latency, throughput and other performance measurements.
    pub const PERFORMANCE: Category = Category(0);
    /// Errors and failures.
    pub const ERRORS: Category = Category(1);
    /// User behaviour: clicks, page views, feature use.
    pub const INTERACTION: Category = Category(2);
    /// Resource utilization: CPU, memory, threads, file descriptors.
    pub const RESOURCE: Category = Category(3);
    /// Business events: purchases, sign-ups, custom domain events.
    pub const BUSINESS: Category = Category(4);
    /// The library's own records: drop counts, consent audit, deletion
    /// requests. They carry no personal data beyond pseudonymous subject keys
    /// and never require consent.
    pub const TELEMETRY: Category = Category(7);

    /// Number of categories that exist (built-in and custom).
    pub const COUNT: usize = 64;
    /// Number of categories a service can define with [`Category::custom`].
    pub const CUSTOM_COUNT: u8 = 56;
    const FIRST_CUSTOM: u8 = 8;

    /// The service-defined category number `index` (0..56).
    ///
    /// Use it in a `const`, where an out-of-range index is a compile error:
    /// `const FRAUD: Category = Category::custom(0);`
    ///
    /// # Panics
    /// If `index >= 56` (at compile time in a `const`). Use
    /// [`Category::try_custom`] for an index computed at run time.
    pub const fn custom(index: u8) -> Category {
        assert!(
            index < Self::CUSTOM_COUNT,
            "custom category index out of range: use 0..56"
        );
        Category(Self::FIRST_CUSTOM + index)
    }

    /// The service-defined category number `index`, or `None` if `index >= 56`.
    pub const fn try_custom(index: u8) -> Option<Category> {
        if index < Self::CUSTOM_COUNT {
            Some(Category(Self::FIRST_CUSTOM + index))
        } else {
            None
        }
    }

    /// The category with bit number `bit` (0..64), or `None` if out of range.
    pub const fn from_bit(bit: u8) -> Option<Category> {
        if (bit as usize) < Self::COUNT {
            Some(Category(bit))
        } else {
            None
        }
    }

    /// The bit number of this category (0..64).
    #[inline]
    pub const fn bit(self) -> u8 {
        self.0
    }

    /// The single-bit mask of this category.
    #[inline]
    pub const fn mask(self) -> u64 {
        1u64 << self.0
    }

    /// Whether this is a service-defined category.
    pub const fn is_custom(self) -> bool {
        self.0 >= Self::FIRST_CUSTOM
    }

    /// The index given to [`Category::custom`], for a service-defined category.
    pub const fn custom_index(self) -> Option<u8> {
        self.0.checked_sub(Self::FIRST_CUSTOM)
    }

    /// Whether this is one of the two bits reserved for future built-ins:
    /// no record can be of such a category, and none is ever propagated.
    pub const fn is_reserved(self) -> bool {
        self.builtin_name().is_none() && !self.is_custom()
    }

    /// The built-in name of this category (`"performance"`, `"errors"`, ...),
    /// or `None` for a custom category, whose name the service configures.
    pub const fn builtin_name(self) -> Option<&'static str> {
        match self.0 {
            0 => Some("performance"),
            1 => Some("errors"),
            2 => Some("interaction"),
            3 => Some("resource"),
            4 => Some("business"),
            7 => Some("telemetry"),
            _ => None,
        }
    }

    /// All built-in categories.
    pub const BUILTIN: [Category; 6] = [
        Self::PERFORMANCE,
        Self::ERRORS,
        Self::INTERACTION,
        Self::RESOURCE,
        Self::BUSINESS,
        Self::TELEMETRY,
    ];
}

impl fmt::Debug for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.builtin_name(), self.custom_index()) {
            (Some(name), _) => write!(f, "Category({name})"),
            (None, Some(index)) => write!(f, "Category(custom {index})"),
            (None, None) => write!(f, "Category(reserved {})", self.0),
        }
    }
}

impl fmt::Display for Category {
    /// The built-in name, `custom-N` for a service-defined category, or
    /// `reserved-N` for the two bits kept for future built-ins.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.builtin_name(), self.custom_index()) {
            (Some(name), _) => f.write_str(name),
            (None, Some(index)) => write!(f, "custom-{index}"),
            (None, None) => write!(f, "reserved-{}", self.0),
        }
    }
}

impl serde::Serialize for Category {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A set of categories, one bit each. Membership is a single bit test.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Default)]
pub struct CategorySet(u64);

impl CategorySet {
    /// The empty set.
    pub const EMPTY: CategorySet = CategorySet(0);
    /// Every category.
    pub const ALL: CategorySet = CategorySet(u64::MAX);

    /// A set from its bit mask.
    pub const fn from_bits(bits: u64) -> Self {
        CategorySet(bits)
    }

    /// The bit mask of this set.
    #[inline]
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// Whether `category` is in the set.
    #[inline]
    pub const fn contains(self, category: Category) -> bool {
        self.0 & category.mask() != 0
    }

    /// This set with `category` added.
    #[must_use]
    pub const fn with(self, category: Category) -> Self {
        CategorySet(self.0 | category.mask())
    }

    /// This set with `category` removed.
    #[must_use]
    pub const fn without(self, category: Category) -> Self {
        CategorySet(self.0 & !category.mask())
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Number of categories in the set.
    pub const fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// The categories in the set, lowest bit first.
    pub fn iter(self) -> impl Iterator<Item = Category> {
        let mut bits = self.0;
        std::iter::from_fn(move || {
            if bits == 0 {
                return None;
            }
            let bit = bits.trailing_zeros() as u8;
            bits &= bits - 1;
            Some(Category(bit))
        })
    }
}

impl FromIterator<Category> for CategorySet {
    fn from_iter<I: IntoIterator<Item = Category>>(iter: I) -> Self {
        iter.into_iter().fold(CategorySet::EMPTY, CategorySet::with)
    }
}

impl From<Category> for CategorySet {
    fn from(category: Category) -> Self {
        CategorySet::EMPTY.with(category)
    }
}

impl<const N: usize> From<[Category; N]> for CategorySet {
    fn from(categories: [Category; N]) -> Self {
        categories.into_iter().collect()
    }
}

impl fmt::Debug for CategorySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// Names of the categories, built-in and service-defined.
#[derive(Clone, Debug)]
pub struct CategoryNames {
    names: Vec<Option<std::sync::Arc<str>>>,
}

impl Default for CategoryNames {
    fn default() -> Self {
        let names = (0..Category::COUNT as u8)
            .map(|bit| Category(bit).builtin_name().map(std::sync::Arc::from))
            .collect();
        CategoryNames { names }
    }
}

impl CategoryNames {
    pub(crate) fn set(&mut self, category: Category, name: &str) {
        if let Some(slot) = self.names.get_mut(category.bit() as usize) {
            *slot = Some(std::sync::Arc::from(name));
        }
    }

    /// The name of `category`: its built-in name, the name the service gave
    /// it, or `custom-N` for an unnamed custom category.
    pub fn name(&self, category: Category) -> std::borrow::Cow<'_, str> {
        match self.names.get(category.bit() as usize) {
            Some(Some(name)) => std::borrow::Cow::Borrowed(name),
            _ => std::borrow::Cow::Owned(category.to_string()),
        }
    }

    /// Every category that has a name (the built-in ones and those the
    /// service named), lowest bit first.
    pub fn named(&self) -> impl Iterator<Item = Category> + '_ {
        self.names
            .iter()
            .enumerate()
            .filter(|(_, n)| n.is_some())
            .filter_map(|(bit, _)| Category::from_bit(u8::try_from(bit).ok()?))
    }

    /// The category with this name, if any: a built-in name, a name the
    /// service gave, or `custom-N` for a custom category left unnamed (the
    /// name [`name`](Self::name) gives it, so names round-trip).
    pub fn lookup(&self, name: &str) -> Option<Category> {
        if let Some(bit) = self.names.iter().position(|n| n.as_deref() == Some(name)) {
            return Category::from_bit(u8::try_from(bit).ok()?);
        }
        let index = name.strip_prefix("custom-")?;
        if index.is_empty()
            || !index.bytes().all(|b| b.is_ascii_digit())
            || index.starts_with('0') && index.len() > 1
        {
            return None;
        }
        let category = Category::try_custom(index.parse().ok()?)?;
        // A named custom category is known by its name only.
        match self.names.get(category.bit() as usize) {
            Some(None) => Some(category),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_least_32_categories_and_distinct_bits() {
        let customs: CategorySet = (0..Category::CUSTOM_COUNT)
            .filter_map(Category::try_custom)
            .collect();
        let builtin: CategorySet = Category::BUILTIN.into();
        assert_eq!(customs.len(), 56);
        assert_eq!(builtin.len(), 6);
        assert!((customs.bits() & builtin.bits()) == 0);
        assert!(customs.len() + builtin.len() >= 32);
        assert_eq!(Category::try_custom(56), None);
    }

    #[test]
    fn set_operations() {
        let set = CategorySet::from([Category::BUSINESS, Category::ERRORS]);
        assert!(set.contains(Category::BUSINESS));
        assert!(!set.contains(Category::PERFORMANCE));
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            vec![Category::ERRORS, Category::BUSINESS]
        );
        assert!(!set.without(Category::ERRORS).contains(Category::ERRORS));
    }

    #[test]
    fn names() {
        let mut names = CategoryNames::default();
        names.set(Category::custom(3), "fraud");
        assert_eq!(names.name(Category::custom(3)), "fraud");
        assert_eq!(names.name(Category::custom(4)), "custom-4");
        assert_eq!(names.name(Category::BUSINESS), "business");
        assert_eq!(names.lookup("fraud"), Some(Category::custom(3)));
        // Unnamed custom categories round-trip through their default name;
        // a named one only through its name.
        assert_eq!(names.lookup("custom-4"), Some(Category::custom(4)));
        assert_eq!(names.lookup("custom-3"), None);
        for bad in [
            "custom-",
            "custom-56",
            "custom-04",
            "custom-+4",
            "reserved-5",
        ] {
            assert_eq!(names.lookup(bad), None, "{bad}");
        }
        for bit in 0..Category::COUNT as u8 {
            let c = Category::from_bit(bit).unwrap();
            let name = names.name(c);
            if c.is_reserved() {
                assert_eq!(names.lookup(&name), None);
            } else {
                assert_eq!(names.lookup(&name), Some(c), "{name}");
            }
        }
    }

    #[test]
    fn reserved_bits_format_without_underflow() {
        for bit in [5u8, 6] {
            let c = Category::from_bit(bit).unwrap();
            assert!(c.is_reserved());
            assert_eq!(c.to_string(), format!("reserved-{bit}"));
            assert_eq!(format!("{c:?}"), format!("Category(reserved {bit})"));
        }
        assert_eq!(
            format!("{:?}", CategorySet::ALL)
                .matches("reserved")
                .count(),
            2
        );
    }
}
