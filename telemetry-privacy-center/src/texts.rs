//! Every sentence the page shows, in one struct the service can replace
//! to translate the page. The defaults are English.

/// The page's text. Start from [`Texts::default`] (English) and replace
/// what you translate; `{n}` in a text is replaced by a number and
/// `{category}` by a category's name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Texts {
    /// The page's language, as a BCP 47 tag for `<html lang>`.
    pub lang: String,
    /// The page title and main heading.
    pub title: String,
    /// The paragraph under the heading.
    pub intro: String,
    /// Shown instead of the choices when the person is not signed in.
    pub sign_in: String,
    /// The heading of the categories.
    pub categories_heading: String,
    /// A category that is always collected, anonymously.
    pub exempt: String,
    /// The person allows a category.
    pub allowed: String,
    /// The person does not allow a category.
    pub not_allowed: String,
    /// The label of a category's checkbox (`{category}` is its name).
    pub allow_label: String,
    /// The button that saves one category's choice without JavaScript.
    pub save: String,
    /// Announced after a choice was saved (`{category}`).
    pub saved: String,
    /// Announced when a choice could not be saved.
    pub save_failed: String,
    /// The summary of a category's list of events (`{n}` items).
    pub covers: String,
    /// A category the service records nothing in.
    pub covers_nothing: String,
    /// The heading of a table of an event's fields.
    pub event_heading: String,
    /// The heading of an instrumented operation (spans and timings).
    pub operation_heading: String,
    /// Column headings of a field table.
    pub field_column: String,
    /// Column heading: the field's type.
    pub type_column: String,
    /// Column heading: how the field is treated.
    pub treatment_column: String,
    /// A field exported as is.
    pub public: String,
    /// A field replaced by a keyed hash.
    pub hashed: String,
    /// A field whose value is replaced by a marker.
    pub redacted: String,
    /// A field never collected.
    pub dropped: String,
    /// An event or operation that records no field.
    pub no_fields: String,
    /// The heading of the consent history.
    pub history_heading: String,
    /// Shown when the history is empty.
    pub history_empty: String,
    /// Shown when the history cannot be read now.
    pub history_unavailable: String,
    /// History column: when.
    pub when_column: String,
    /// History column: the category.
    pub category_column: String,
    /// History column: the choice made.
    pub choice_column: String,
    /// History column: who made it.
    pub by_column: String,
    /// A choice in the history: granted.
    pub granted: String,
    /// A choice in the history: refused or revoked.
    pub denied: String,
    /// A choice in the history: no answer (the policy's default).
    pub no_answer: String,
    /// The heading of the deletion section.
    pub delete_heading: String,
    /// What deletion does.
    pub delete_explain: String,
    /// The label of the checkbox that confirms a deletion.
    pub delete_confirm: String,
    /// The deletion button.
    pub delete_button: String,
    /// Shown after a deletion was requested (`{n}` categories).
    pub deleted: String,
    /// Shown when the deletion was not confirmed.
    pub delete_unconfirmed: String,
    /// Shown when the deletion could not be recorded.
    pub delete_failed: String,
}

impl Default for Texts {
    fn default() -> Self {
        let s = |t: &str| t.to_owned();
        Texts {
            lang: s("en"),
            title: s("Your privacy"),
            intro: s(
                "This page lists everything this service can record about how you use it, \
                 why, and how each detail is protected before it leaves the service. \
                 You choose per category.",
            ),
            sign_in: s("Sign in to see and change your choices."),
            categories_heading: s("What we collect"),
            exempt: s(
                "Always collected, anonymously: these records never carry anything that links them to you.",
            ),
            allowed: s("You allow this."),
            not_allowed: s("You do not allow this."),
            allow_label: s("Allow {category} data"),
            save: s("Save"),
            saved: s("Saved: {category}."),
            save_failed: s("Your choice could not be saved. Please try again."),
            covers: s("What this covers ({n})"),
            covers_nothing: s("Nothing is recorded in this category."),
            event_heading: s("Event"),
            operation_heading: s("Operation timing"),
            field_column: s("Detail"),
            type_column: s("Type"),
            treatment_column: s("How it is treated"),
            public: s("recorded as is"),
            hashed: s("replaced by a keyed hash (cannot be read back)"),
            redacted: s("replaced by a placeholder (the value is never read)"),
            dropped: s("never collected"),
            no_fields: s("No details are recorded."),
            history_heading: s("Your choices so far"),
            history_empty: s("No change of your choices is on record."),
            history_unavailable: s("Your history cannot be shown right now."),
            when_column: s("When (UTC)"),
            category_column: s("Category"),
            choice_column: s("Choice"),
            by_column: s("Made by"),
            granted: s("allowed"),
            denied: s("not allowed"),
            no_answer: s("no answer (default)"),
            delete_heading: s("Delete what we hold about you"),
            delete_explain: s(
                "This switches off every category that needs your consent and asks every store \
                 that received your data to delete it.",
            ),
            delete_confirm: s("I want my data deleted"),
            delete_button: s("Delete my data"),
            deleted: s("Deletion requested for {n} categories."),
            delete_unconfirmed: s("Tick the box to confirm the deletion."),
            delete_failed: s("Your deletion could not be recorded everywhere. Please try again."),
        }
    }
}

impl Texts {
    /// `text` with `{key}` replaced by `value`.
    pub(crate) fn fill(text: &str, key: &str, value: &str) -> String {
        text.replace(&format!("{{{key}}}"), value)
    }
}
