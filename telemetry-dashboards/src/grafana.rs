//! Grafana's dashboard model, as file provisioning wants it: a stable
//! uid and no `id`, a `datasource` variable of type `datasource`
//! (Prometheus) that every panel and query uses, panels placed on the
//! 24-column grid with unique ids. Also what a test needs to run every
//! query against Prometheus: the queries of a dashboard, and its
//! variables substituted.

use serde_json::{Value, json};

use crate::options::Options;

/// A generated dashboard.
#[derive(Clone, Debug, PartialEq)]
pub struct Dashboard {
    /// The file name under `dashboards/`, e.g. `telemetry-overview.json`.
    pub file_name: String,
    /// The dashboard's uid (stable across generations).
    pub uid: String,
    /// Its title.
    pub title: String,
    /// The dashboard model.
    pub json: Value,
}

impl Dashboard {
    /// The model as pretty-printed JSON (what the file holds).
    pub fn to_json_string(&self) -> String {
        let mut s = serde_json::to_string_pretty(&self.json).unwrap_or_default();
        s.push('\n');
        s
    }
}

fn datasource() -> Value {
    json!({"type": "prometheus", "uid": "${datasource}"})
}

/// One query of a panel.
pub(crate) struct Target {
    expr: String,
    legend: String,
}

pub(crate) fn target(expr: impl Into<String>, legend: impl Into<String>) -> Target {
    Target {
        expr: expr.into(),
        legend: legend.into(),
    }
}

/// A panel before it is placed.
pub(crate) struct Panel {
    title: String,
    description: String,
    unit: &'static str,
    width: u64,
    pub(crate) stat: bool,
    targets: Vec<Target>,
}

pub(crate) fn panel(
    title: impl Into<String>,
    description: &str,
    unit: &'static str,
    width: u64,
    targets: Vec<Target>,
) -> Panel {
    Panel {
        title: title.into(),
        description: description.to_owned(),
        unit,
        width,
        stat: false,
        targets,
    }
}

/// Panels placed on Grafana's 24-column grid, ids counted from 1.
#[derive(Default)]
pub(crate) struct Board {
    panels: Vec<Value>,
    next_id: u64,
    x: u64,
    y: u64,
}

const HEIGHT: u64 = 8;

impl Board {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn newline(&mut self) {
        if self.x > 0 {
            self.x = 0;
            self.y += HEIGHT;
        }
    }

    pub(crate) fn row(&mut self, title: &str) {
        self.newline();
        let id = self.id();
        self.panels.push(json!({
            "id": id,
            "type": "row",
            "title": title,
            "collapsed": false,
            "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y},
            "panels": [],
        }));
        self.y += 1;
    }

    pub(crate) fn add(&mut self, p: Panel) {
        let width = p.width.clamp(1, 24);
        if self.x + width > 24 {
            self.newline();
        }
        let id = self.id();
        let targets: Vec<Value> = p
            .targets
            .iter()
            .enumerate()
            .map(|(i, t)| {
                json!({
                    "datasource": datasource(),
                    "refId": ref_id(i),
                    "expr": t.expr,
                    "legendFormat": t.legend,
                    "range": true,
                    "editorMode": "code",
                })
            })
            .collect();
        let mut defaults = json!({"unit": p.unit});
        if p.unit == "percentunit" {
            defaults["min"] = json!(0);
        }
        let (kind, options) = if p.stat {
            (
                "stat",
                json!({
                    "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": false},
                    "colorMode": "value",
                    "graphMode": "area",
                    "justifyMode": "auto",
                    "orientation": "auto",
                    "textMode": "auto",
                }),
            )
        } else {
            defaults["custom"] = json!({
                "drawStyle": "line",
                "lineWidth": 1,
                "fillOpacity": 10,
                "showPoints": "never",
                "spanNulls": false,
            });
            (
                "timeseries",
                json!({
                    "legend": {"displayMode": "list", "placement": "bottom", "showLegend": true, "calcs": []},
                    "tooltip": {"mode": "multi", "sort": "desc"},
                }),
            )
        };
        self.panels.push(json!({
            "id": id,
            "type": kind,
            "title": p.title,
            "description": p.description,
            "datasource": datasource(),
            "gridPos": {"h": HEIGHT, "w": width, "x": self.x, "y": self.y},
            "fieldConfig": {"defaults": defaults, "overrides": []},
            "options": options,
            "targets": targets,
        }));
        self.x += width;
        if self.x >= 24 {
            self.newline();
        }
    }
}

/// `A`, `B`, ... `Z`, `AA`, ...
fn ref_id(i: usize) -> String {
    let letters = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut n = i;
    let mut out = Vec::new();
    loop {
        out.push(char::from(letters[n % 26]));
        if n < 26 {
            break;
        }
        n = n / 26 - 1;
    }
    out.iter().rev().collect()
}

pub(crate) fn datasource_variable() -> Value {
    json!({
        "name": "datasource",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
        "includeAll": false,
        "multi": false,
        "options": [],
        "refresh": 1,
        "regex": "",
        "skipUrlSync": false,
    })
}

/// A multi-value query variable with "All" (`.*`).
pub(crate) fn query_variable(name: &str, label: &str, query: &str) -> Value {
    json!({
        "name": name,
        "label": label,
        "type": "query",
        "datasource": datasource(),
        "definition": query,
        "query": query,
        "current": {},
        "hide": 0,
        "includeAll": true,
        "allValue": ".*",
        "multi": true,
        "options": [],
        "refresh": 2,
        "regex": "",
        "sort": 1,
        "skipUrlSync": false,
    })
}

pub(crate) fn job_variable() -> Value {
    query_variable("job", "Job", "label_values(target_info, job)")
}

/// A uid part from the service's name: lowercase letters, digits and `-`.
fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-')
        .chars()
        .take(20)
        .collect::<String>()
        .trim_end_matches('-')
        .to_owned()
}

pub(crate) fn dashboard(
    options: &Options,
    key: &str,
    title: &str,
    description: &str,
    variables: Vec<Value>,
    board: Board,
) -> Dashboard {
    let service = options.service.as_deref().filter(|s| !slug(s).is_empty());
    let uid = match service {
        Some(s) => format!("telemetry-{}-{key}", slug(s)),
        None => format!("telemetry-{key}"),
    };
    let title = match service {
        Some(s) => format!("{s}: {title}"),
        None => {
            let mut chars = title.chars();
            chars
                .next()
                .map(|c| c.to_uppercase().chain(chars).collect())
                .unwrap_or_default()
        }
    };
    let json = json!({
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["telemetry", "generated"],
        "timezone": "browser",
        "editable": true,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "fiscalYearStartMonth": 0,
        "liveNow": false,
        "annotations": {"list": [{
            "builtIn": 1,
            "datasource": {"type": "grafana", "uid": "-- Grafana --"},
            "enable": true,
            "hide": true,
            "iconColor": "rgba(0, 211, 255, 1)",
            "name": "Annotations & Alerts",
            "type": "dashboard",
        }]},
        "links": [{
            "type": "dashboards",
            "tags": ["telemetry"],
            "asDropdown": true,
            "title": "Telemetry dashboards",
            "includeVars": true,
            "keepTime": true,
        }],
        "templating": {"list": variables},
        "panels": board.panels,
    });
    Dashboard {
        file_name: format!("{uid}.json"),
        uid,
        title,
        json,
    }
}
fn collect_queries(panels: &Value, out: &mut Vec<(String, String)>) {
    let Some(panels) = panels.as_array() else {
        return;
    };
    for p in panels {
        let title = p.get("title").and_then(Value::as_str).unwrap_or_default();
        if let Some(targets) = p.get("targets").and_then(Value::as_array) {
            for t in targets {
                if let Some(expr) = t.get("expr").and_then(Value::as_str) {
                    out.push((title.to_owned(), expr.to_owned()));
                }
            }
        }
        if let Some(nested) = p.get("panels") {
            collect_queries(nested, out);
        }
    }
}

/// Every query of a dashboard: `(panel title, PromQL expression)`, in
/// panel order, including the panels of collapsed rows.
pub fn panel_queries(dashboard: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(panels) = dashboard.get("panels") {
        collect_queries(panels, &mut out);
    }
    out
}

/// `expr` with Grafana's variables replaced: `$name`, `${name}`,
/// `${name:format}` and `[[name]]` for each `(name, value)` of `vars`
/// (names without the `$`); other variables are left as they are.
///
/// ```
/// let expr = r#"sum(rate(function_calls_total{function=~"$function"}[$__rate_interval]))"#;
/// assert_eq!(
///     telemetry_dashboards::substitute(expr, &[("function", ".*"), ("__rate_interval", "1m")]),
///     r#"sum(rate(function_calls_total{function=~".*"}[1m]))"#
/// );
/// ```
pub fn substitute(expr: &str, vars: &[(&str, &str)]) -> String {
    let lookup = |name: &str| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(expr.len());
    let mut rest = expr;
    while let Some(i) = rest.find(['$', '[']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let (name, len) = if let Some(braced) = tail.strip_prefix("${") {
            match braced.find('}') {
                Some(end) => {
                    let inner = &braced[..end];
                    (inner.split(':').next().unwrap_or(inner), end + 3)
                }
                None => ("", 0),
            }
        } else if let Some(bracketed) = tail.strip_prefix("[[") {
            match bracketed.find("]]") {
                Some(end) => (&bracketed[..end], end + 4),
                None => ("", 0),
            }
        } else if let Some(plain) = tail.strip_prefix('$') {
            let end = plain.find(|c| !is_name(c)).unwrap_or(plain.len());
            (&plain[..end], end + 1)
        } else {
            ("", 0)
        };
        match lookup(name).filter(|_| len > 0 && !name.is_empty()) {
            Some(value) => {
                out.push_str(value);
                rest = &tail[len..];
            }
            None => {
                // Not a variable we know: keep its first character.
                let c = tail.chars().next().map_or(1, char::len_utf8);
                out.push_str(&tail[..c]);
                rest = &tail[c..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A value for every variable of `dashboard` that selects everything (a
/// query variable's "All" value, `.*`), and `1m` for `__rate_interval`:
/// with [`substitute`], every query becomes plain PromQL.
pub fn select_all_variables(dashboard: &Value) -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> = dashboard
        .pointer("/templating/list")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|v| v.get("type").and_then(Value::as_str) == Some("query"))
        .filter_map(|v| {
            let name = v.get("name")?.as_str()?;
            let all = v.get("allValue").and_then(Value::as_str).unwrap_or(".*");
            Some((name.to_owned(), all.to_owned()))
        })
        .collect();
    vars.push(("__rate_interval".to_owned(), "1m".to_owned()));
    vars
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::FunctionInfo;

    #[test]
    fn substitution() {
        let vars = [
            ("function", ".*"),
            ("__rate_interval", "1m"),
            ("job", "shop"),
        ];
        assert_eq!(
            substitute(
                "x{job=~\"$job\",f=~\"${function:regex}\"}[$__rate_interval] $unknown [[job]] $",
                &vars
            ),
            "x{job=~\"shop\",f=~\".*\"}[1m] $unknown shop $"
        );
        assert_eq!(substitute("a[5m] ${open", &vars), "a[5m] ${open");
        let functions =
            [FunctionInfo::new("f", "business").with_objective(Some(99.0), Some(100.0), None)];
        let overview = &crate::dashboards(&functions, &Options::default())[0].json;
        let all = select_all_variables(overview);
        let all: Vec<(&str, &str)> = all.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        for (_, q) in panel_queries(overview) {
            assert!(!substitute(&q, &all).contains('$'), "{q}");
        }
    }

    #[test]
    fn ref_ids() {
        assert_eq!(ref_id(0), "A");
        assert_eq!(ref_id(25), "Z");
        assert_eq!(ref_id(26), "AA");
    }
}
