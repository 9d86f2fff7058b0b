//! What the page shows, as data: the categories with their purposes and
//! the catalogue's items in each, the person's choices and history. Built
//! from the catalogue and the consent policy on every request (nothing is
//! cached, so the page can never disagree with the code or the store).

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use telemetry_core::catalogue::{Catalogue, CatalogueItem};
use telemetry_core::consent::{ConsentChange, ConsentState};
use telemetry_core::event::FieldSchema;
use telemetry_core::{Category, CategorySet, FieldClass, Telemetry};

/// The page's content for one person (or for nobody signed in).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PageModel {
    /// Whether a person is signed in (their choices and history shown).
    pub signed_in: bool,
    /// Every category the service records in or the page explains.
    pub categories: Vec<CategoryView>,
    /// The person's consent history, oldest first; `None` when nobody is
    /// signed in or the store could not be read.
    pub history: Option<Vec<HistoryEntry>>,
}

/// One category on the page.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CategoryView {
    /// Its name (`interaction`).
    pub name: String,
    /// What its elements' ids are made of: the name when it is plain
    /// lower-case ASCII (`allow-interaction`), else `c` and the category's
    /// bit (`allow-c12`), so two names can never give one id.
    pub html_id: String,
    /// Why the service collects it, as the service wrote it.
    pub purpose: String,
    /// Exempt from consent: always collected, anonymously.
    pub exempt: bool,
    /// Whether the signed-in person's records of it are kept now.
    pub allowed: Option<bool>,
    /// Whether the person can switch it (signed in and not exempt).
    pub can_change: bool,
    /// The events and operations recorded in it.
    pub items: Vec<ItemView>,
}

/// What kind of item the catalogue lists.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    /// A typed event.
    Event,
    /// An instrumented function: its timing, outcome and listed arguments.
    Operation,
}

/// One event or operation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ItemView {
    /// Event or operation.
    pub kind: ItemKind,
    /// Its name as exported.
    pub name: String,
    /// What it means (the doc comment).
    pub description: String,
    /// Its fields, dropped ones included.
    pub fields: Vec<FieldView>,
}

/// One field and how it is treated.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FieldView {
    /// The field's name.
    pub name: String,
    /// Its type (`string`, `uint`, ...).
    #[serde(rename = "type")]
    pub ty: String,
    /// Its privacy class.
    pub class: FieldClass,
}

/// One change in the person's history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HistoryEntry {
    /// When, as `YYYY-MM-DD HH:MM:SS` in UTC.
    pub time: String,
    /// The category's name.
    pub category: String,
    /// The new choice: `granted`, `denied` or `no_answer`.
    pub choice: &'static str,
    /// Who made it (`user`, `operator`, ...).
    pub by: String,
}

/// The categories the page shows (and "delete" revokes): every category
/// with a name (the built-in ones and those the service named), every
/// category an item of the catalogue records in, and every category the
/// service described.
pub(crate) fn shown_categories(
    telemetry: &Telemetry,
    catalogue: &Catalogue,
    described: impl Iterator<Item = Category>,
) -> Vec<Category> {
    let mut set: CategorySet = Category::BUILTIN.into();
    for c in telemetry.categories().named() {
        set = set.with(c);
    }
    for item in catalogue.items() {
        set = set.with(item_category(item));
    }
    for c in described {
        set = set.with(c);
    }
    set.iter().filter(|c| *c != Category::TELEMETRY).collect()
}

fn item_category(item: &CatalogueItem) -> Category {
    match item {
        CatalogueItem::Event { schema, .. } => schema.category,
        CatalogueItem::Function { schema, .. } => schema.category,
    }
}

fn fields(fields: &[FieldSchema]) -> Vec<FieldView> {
    fields
        .iter()
        .map(|f| FieldView {
            name: f.name.to_owned(),
            ty: f.ty.name().to_owned(),
            class: f.class,
        })
        .collect()
}

/// The items of `category`, events first, each sorted by name.
pub(crate) fn items_of(catalogue: &Catalogue, category: Category) -> Vec<ItemView> {
    catalogue
        .items()
        .iter()
        .filter(|i| item_category(i) == category)
        .map(|item| match item {
            CatalogueItem::Event { schema, .. } => ItemView {
                kind: ItemKind::Event,
                name: schema.name.to_owned(),
                description: plain(schema.description),
                fields: fields(schema.fields),
            },
            CatalogueItem::Function { schema, .. } => ItemView {
                kind: ItemKind::Operation,
                name: schema.name.to_owned(),
                description: plain(schema.description),
                fields: fields(schema.fields),
            },
        })
        .collect()
}

/// The id fragment of a category's elements (see
/// [`CategoryView::html_id`]).
fn html_id(name: &str, category: Category) -> String {
    let plain = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && !name
            .strip_prefix('c')
            .is_some_and(|rest| rest.bytes().all(|b| b.is_ascii_digit()));
    if plain {
        name.to_owned()
    } else {
        format!("c{}", category.bit())
    }
}

/// A doc comment as plain text: its Markdown code marks dropped.
fn plain(doc: &str) -> String {
    doc.trim().replace('`', "")
}

/// The page for `person` (`None`: nobody signed in).
pub(crate) fn build(
    telemetry: &Telemetry,
    catalogue: &Catalogue,
    purposes: &[(Category, String)],
    person: Option<&str>,
    history_limit: usize,
) -> PageModel {
    let consent = telemetry.consent();
    let policy = consent.policy();
    let names = telemetry.categories();
    let categories = shown_categories(telemetry, catalogue, purposes.iter().map(|(c, _)| *c))
        .into_iter()
        .map(|c| {
            let exempt = policy.exempt_set().contains(c);
            let name = names.name(c).into_owned();
            CategoryView {
                html_id: html_id(&name, c),
                name,
                purpose: purposes
                    .iter()
                    .find(|(p, _)| *p == c)
                    .map(|(_, text)| text.clone())
                    .unwrap_or_default(),
                exempt,
                allowed: person.map(|p| consent.state(p, c).allows()),
                can_change: person.is_some() && !exempt,
                items: items_of(catalogue, c),
            }
        })
        .collect();
    let history = person.and_then(|p| {
        let changes = consent.history(p, history_limit).ok()?;
        Some(
            changes
                .iter()
                .map(|change| history_entry(change, &|c| names.name(c).into_owned()))
                .collect(),
        )
    });
    PageModel {
        signed_in: person.is_some(),
        categories,
        history,
    }
}

fn history_entry(change: &ConsentChange, name: &dyn Fn(Category) -> String) -> HistoryEntry {
    HistoryEntry {
        time: utc(change.time),
        category: name(change.category),
        choice: match change.new {
            ConsentState::Granted | ConsentState::Exempt => "granted",
            ConsentState::Denied => "denied",
            ConsentState::NoAnswer { .. } => "no_answer",
        },
        by: change.source.as_str().to_owned(),
    }
}

/// `time` as `YYYY-MM-DD HH:MM:SS` in UTC (times before 1970 show as the
/// epoch).
pub(crate) fn utc(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rest = secs % 86_400;
    // Howard Hinnant's civil-from-days algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(UNIX_EPOCH), "1970-01-01 00:00:00");
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400 + 3661); // 2000-02-29
        assert_eq!(utc(t), "2000-02-29 01:01:01");
        let t = UNIX_EPOCH + Duration::from_secs(1798761599); // 2026-12-31 23:59:59
        assert_eq!(utc(t), "2026-12-31 23:59:59");
    }
}
