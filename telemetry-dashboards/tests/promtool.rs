//! The generated rules, their tests and the dashboards' queries, checked
//! by Prometheus' own `promtool`: the rules load (`promtool check rules`),
//! every generated test passes (`promtool test rules`, run from another
//! directory), and every dashboard query parses. promtool must be on
//! `PATH`: install it with `bash tests/prometheus/install.sh`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::Path;
use std::process::Command;

use telemetry_dashboards::{
    FunctionInfo, Options, dashboards, panel_queries, select_all_variables, substitute, write_dir,
};

fn promtool() -> Command {
    let found = Command::new("promtool").arg("--version").output();
    match found {
        Ok(out) if out.status.success() => Command::new("promtool"),
        _ => panic!(
            "promtool is not on PATH; these tests check the generated rules with it: \
             install it with bash tests/prometheus/install.sh"
        ),
    }
}

fn run(mut cmd: Command, cwd: &Path) -> String {
    let out = cmd.current_dir(cwd).output().expect("run promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

/// Two functions, one with an objective.
fn sample() -> Vec<FunctionInfo> {
    vec![
        FunctionInfo::new("checkout.place_order", "business")
            .with_module("shop::checkout")
            .with_objective(Some(99.9), Some(250.0), Some(99.0)),
        FunctionInfo::new("inventory.reserve", "performance").with_module("shop::inventory"),
    ]
}

/// Names a YAML or Go template could trip on, an integer latency bound,
/// and a latency-only objective.
fn odd() -> Vec<FunctionInfo> {
    vec![
        FunctionInfo::new("we\"ird\\name {{ $labels.job }} ☃ {", "custom-3").with_objective(
            Some(99.0),
            None,
            None,
        ),
        FunctionInfo::new("slow: [path] #1 'x'", "interaction").with_objective(
            None,
            Some(1000.0),
            Some(95.0),
        ),
        FunctionInfo::new("tab\tand\u{2028}separator", "errors"),
    ]
}

fn check(functions: &[FunctionInfo], options: &Options) {
    let dir = tempfile::tempdir().unwrap();
    let written = write_dir(functions, options, &dir.path().join("out")).unwrap();
    let mut check = promtool();
    check.args(["check", "rules"]).arg(&written.rules);
    let report = run(check, dir.path());
    assert!(report.contains("SUCCESS"), "{report}");
    // From another directory: the test file names the rules relative to itself.
    let mut test = promtool();
    test.args(["test", "rules"]).arg(&written.rule_tests);
    let report = run(test, Path::new("/"));
    assert!(report.contains("SUCCESS"), "{report}");
    let tests = std::fs::read_to_string(&written.rule_tests).unwrap();
    assert!(!tests.contains("Not tested"), "{tests}");
}

#[test]
fn rules_load_and_their_tests_pass() {
    check(&sample(), &Options::default());
}

#[test]
fn rules_for_tests_load_and_their_tests_pass() {
    check(&sample(), &Options::for_tests());
}

#[test]
fn odd_names_survive_yaml_promql_and_templates() {
    let options = Options {
        job: Some("shop \"eu\"".to_owned()),
        ..Options::for_tests()
    };
    check(&odd(), &options);
}

#[test]
fn every_dashboard_query_parses() {
    // promtool parses each query as the expression of a recording rule.
    let mut rules = String::from("groups:\n  - name: dashboards\n    rules:\n");
    let mut count = 0;
    for d in dashboards(&[sample(), odd()].concat(), &Options::default()) {
        let vars = select_all_variables(&d.json);
        let vars: Vec<(&str, &str)> = vars.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        for (title, expr) in panel_queries(&d.json) {
            let expr = substitute(&expr, &vars);
            assert!(!expr.contains('$'), "{title}: {expr}");
            count += 1;
            rules.push_str(&format!(
                "      - record: dashboard:query:{count}\n        expr: {}\n",
                serde_json::to_string(&expr).unwrap()
            ));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("queries.yml");
    std::fs::write(&path, rules).unwrap();
    let mut check = promtool();
    check.args(["check", "rules"]).arg(&path);
    let report = run(check, dir.path());
    assert!(
        report.contains(&format!("SUCCESS: {count} rules found")),
        "{report}"
    );
}
