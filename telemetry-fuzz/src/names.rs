//! A known policy of category names: the built-in names plus custom ones
//! that need escaping in baggage and JSON, named through the public builder
//! (so they pass its checks).

use std::sync::LazyLock;

use telemetry_core::export::CategoryNames;
use telemetry_core::{Category, CategorySet, Environment, Telemetry};

/// Custom categories the policy names, with their names.
pub(crate) const NAMED: [(u8, &str); 5] = [
    (0, "fraud check"),
    (1, "a|b%c"),
    (2, "ünïcödé"),
    (3, "x,y;z=1 \"q\""),
    (4, "cookies 🍪/\\"),
];

/// An unnamed custom category (known as `custom-10`).
pub(crate) const UNNAMED: u8 = 10;

static NAMES: LazyLock<CategoryNames> = LazyLock::new(|| {
    let mut builder = Telemetry::builder()
        .service("telemetry-fuzz", "0")
        .env(Environment::from_pairs(Vec::<(String, String)>::new()));
    for (index, name) in NAMED {
        builder = builder.category(Category::custom(index), name);
    }
    let built = builder.build();
    assert!(built.is_ok(), "{:?}", built.as_ref().err());
    built
        .map(|t| {
            let names = t.categories().clone();
            t.shutdown(std::time::Duration::from_secs(1));
            names
        })
        .unwrap_or_default()
});

/// The policy's names.
pub(crate) fn names() -> &'static CategoryNames {
    &NAMES
}

/// Every category a peer can know by name under the policy: the built-in
/// ones, the named custom ones, and one unnamed custom one.
pub(crate) fn nameable() -> CategorySet {
    let mut set = CategorySet::from(Category::BUILTIN);
    for (index, _) in NAMED {
        set = set.with(Category::custom(index));
    }
    set.with(Category::custom(UNNAMED))
}
