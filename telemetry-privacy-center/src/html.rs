//! The page as HTML: server-rendered, complete without JavaScript (every
//! choice is a form), escaped throughout, no third-party asset.

use std::fmt::Write as _;

use telemetry_core::FieldClass;

use crate::model::{CategoryView, ItemKind, ItemView, PageModel};
use crate::texts::Texts;

/// Text escaped for HTML content and double-quoted attributes.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// JSON safe inside a `<script>` element.
pub(crate) fn script_json(json: &str) -> String {
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

fn treatment(texts: &Texts, class: FieldClass) -> &str {
    match class {
        FieldClass::Public => &texts.public,
        FieldClass::Hashed => &texts.hashed,
        FieldClass::Redacted => &texts.redacted,
        FieldClass::Dropped => &texts.dropped,
    }
}

/// What the page says at the top after an action (`None`: nothing).
pub(crate) struct Notice {
    pub text: String,
    pub error: bool,
}

/// Everything one rendering needs.
pub(crate) struct Render<'a> {
    pub texts: &'a Texts,
    pub base: &'a str,
    pub model: &'a PageModel,
    pub notice: Option<Notice>,
    /// The JSON the snippet reads its choices from.
    pub choices_json: &'a str,
}

/// The whole page.
pub(crate) fn page(r: &Render<'_>) -> String {
    let t = r.texts;
    let base = escape(r.base);
    let mut h = String::with_capacity(16 * 1024);
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<link rel=\"stylesheet\" href=\"{base}/privacy-center.css\">\n\
         <script type=\"application/json\" id=\"telemetry-choices\">{choices}</script>\n\
         <script src=\"{base}/privacy-center.js\" defer></script>\n</head>\n<body>\n\
         <main data-text-allowed=\"{allowed}\" data-text-not-allowed=\"{not_allowed}\" \
         data-text-saved=\"{saved}\" data-text-save-failed=\"{failed}\">\n\
         <h1>{title}</h1>\n<p>{intro}</p>\n",
        allowed = escape(&t.allowed),
        not_allowed = escape(&t.not_allowed),
        saved = escape(&t.saved),
        failed = escape(&t.save_failed),
        lang = escape(&t.lang),
        title = escape(&t.title),
        intro = escape(&t.intro),
        choices = script_json(r.choices_json),
    );
    let (class, text) = match &r.notice {
        Some(n) if n.error => ("status error", escape(&n.text)),
        Some(n) => ("status", escape(&n.text)),
        None => ("status", String::new()),
    };
    let _ = writeln!(
        h,
        "<p id=\"status\" class=\"{class}\" role=\"status\" aria-live=\"polite\">{text}</p>"
    );
    if !r.model.signed_in {
        let _ = writeln!(h, "<p class=\"sign-in\">{}</p>", escape(&t.sign_in));
    }
    let _ = writeln!(
        h,
        "<h2 id=\"categories\">{}</h2>",
        escape(&t.categories_heading)
    );
    for c in &r.model.categories {
        category(&mut h, t, &base, c);
    }
    if r.model.signed_in {
        history(&mut h, t, r.model);
        delete(&mut h, t, &base);
    }
    h.push_str("</main>\n</body>\n</html>\n");
    h
}

fn category(h: &mut String, t: &Texts, base: &str, c: &CategoryView) {
    // `cat-`, `state-` and `allow-` ids: no fixed id of the page starts so.
    let cid = escape(&c.html_id);
    let name = escape(&c.name);
    let _ = writeln!(
        h,
        "<section class=\"category\" data-category=\"{name}\" aria-labelledby=\"cat-{cid}\">\n\
         <h3 id=\"cat-{cid}\">{name}</h3>"
    );
    if !c.purpose.is_empty() {
        let _ = writeln!(h, "<p class=\"purpose\">{}</p>", escape(&c.purpose));
    }
    if c.exempt {
        let _ = writeln!(h, "<p class=\"exempt\">{}</p>", escape(&t.exempt));
    } else if let Some(allowed) = c.allowed {
        let state = if allowed { &t.allowed } else { &t.not_allowed };
        let _ = writeln!(
            h,
            "<p class=\"state\" id=\"state-{cid}\">{}</p>",
            escape(state)
        );
    }
    if c.can_change {
        let checked = if c.allowed == Some(true) {
            " checked"
        } else {
            ""
        };
        let label = Texts::fill(&t.allow_label, "category", &c.name);
        let _ = writeln!(
            h,
            "<form class=\"choice\" method=\"post\" action=\"{base}/consent\" data-category=\"{name}\">\n\
             <input type=\"hidden\" name=\"category\" value=\"{name}\">\n\
             <input type=\"checkbox\" id=\"allow-{cid}\" name=\"allow\" value=\"true\"{checked} \
             aria-describedby=\"state-{cid}\">\n\
             <label for=\"allow-{cid}\">{label}</label>\n\
             <button type=\"submit\" class=\"save\">{save}</button>\n</form>",
            label = escape(&label),
            save = escape(&t.save),
        );
    }
    if c.items.is_empty() {
        let _ = writeln!(h, "<p class=\"nothing\">{}</p>", escape(&t.covers_nothing));
    } else {
        let summary = Texts::fill(&t.covers, "n", &c.items.len().to_string());
        let _ = writeln!(
            h,
            "<details>\n<summary>{}</summary>\n<ul class=\"items\">",
            escape(&summary)
        );
        for item in &c.items {
            item_html(h, t, item);
        }
        h.push_str("</ul>\n</details>\n");
    }
    h.push_str("</section>\n");
}

fn item_html(h: &mut String, t: &Texts, item: &ItemView) {
    let (kind, heading) = match item.kind {
        ItemKind::Event => ("event", &t.event_heading),
        ItemKind::Operation => ("operation", &t.operation_heading),
    };
    let name = escape(&item.name);
    let _ = writeln!(
        h,
        "<li class=\"item\" data-item=\"{name}\" data-kind=\"{kind}\">\n\
         <p><span class=\"kind\">{heading}</span> <code>{name}</code></p>",
        heading = escape(heading),
    );
    if !item.description.is_empty() {
        let _ = writeln!(h, "<p>{}</p>", escape(&item.description));
    }
    if item.fields.is_empty() {
        let _ = writeln!(h, "<p>{}</p>", escape(&t.no_fields));
    } else {
        let _ = writeln!(
            h,
            "<table>\n<caption>{name}</caption>\n<thead><tr><th scope=\"col\">{}</th>\
             <th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr></thead>\n<tbody>",
            escape(&t.field_column),
            escape(&t.type_column),
            escape(&t.treatment_column),
        );
        for f in &item.fields {
            let _ = writeln!(
                h,
                "<tr data-field=\"{field}\" data-class=\"{class}\"><th scope=\"row\"><code>{field}</code></th>\
                 <td>{ty}</td><td>{treatment}</td></tr>",
                field = escape(&f.name),
                class = f.class.name(),
                ty = escape(&f.ty),
                treatment = escape(treatment(t, f.class)),
            );
        }
        h.push_str("</tbody>\n</table>\n");
    }
    h.push_str("</li>\n");
}

fn history(h: &mut String, t: &Texts, model: &PageModel) {
    let _ = writeln!(
        h,
        "<section aria-labelledby=\"h-history\">\n<h2 id=\"h-history\">{}</h2>",
        escape(&t.history_heading)
    );
    match &model.history {
        None => {
            let _ = writeln!(h, "<p>{}</p>", escape(&t.history_unavailable));
        }
        Some(entries) if entries.is_empty() => {
            let _ = writeln!(
                h,
                "<p id=\"history-empty\">{}</p>",
                escape(&t.history_empty)
            );
        }
        Some(entries) => {
            let _ = writeln!(
                h,
                "<table id=\"history\">\n<caption>{}</caption>\n<thead><tr><th scope=\"col\">{}</th>\
                 <th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr></thead>\n<tbody>",
                escape(&t.history_heading),
                escape(&t.when_column),
                escape(&t.category_column),
                escape(&t.choice_column),
                escape(&t.by_column),
            );
            for e in entries {
                let choice = match e.choice {
                    "granted" => &t.granted,
                    "denied" => &t.denied,
                    _ => &t.no_answer,
                };
                let _ = writeln!(
                    h,
                    "<tr data-category=\"{cat}\" data-choice=\"{code}\"><td>{time}</td><td>{cat}</td>\
                     <td>{choice}</td><td>{by}</td></tr>",
                    cat = escape(&e.category),
                    code = e.choice,
                    time = escape(&e.time),
                    choice = escape(choice),
                    by = escape(&e.by),
                );
            }
            h.push_str("</tbody>\n</table>\n");
        }
    }
    h.push_str("</section>\n");
}

fn delete(h: &mut String, t: &Texts, base: &str) {
    let _ = writeln!(
        h,
        "<section aria-labelledby=\"h-delete\">\n<h2 id=\"h-delete\">{heading}</h2>\n<p>{explain}</p>\n\
         <form id=\"delete\" method=\"post\" action=\"{base}/delete\">\n\
         <input type=\"checkbox\" id=\"delete-confirm\" name=\"confirm\" value=\"yes\" required>\n\
         <label for=\"delete-confirm\">{confirm}</label>\n\
         <button type=\"submit\" class=\"danger\">{button}</button>\n</form>\n</section>",
        heading = escape(&t.delete_heading),
        explain = escape(&t.delete_explain),
        confirm = escape(&t.delete_confirm),
        button = escape(&t.delete_button),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_script_endings() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        let json = script_json(r#"{"x":"</script><b>&"}"#);
        assert!(!json.contains("</script>"), "{json}");
        assert!(!json.contains('<') && !json.contains('&'), "{json}");
    }
}
