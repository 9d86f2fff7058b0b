//! Writing everything to a directory: the rule file and its tests side
//! by side under `rules/` (the tests load the rules relative to their own
//! file), and the dashboards under `dashboards/`.

use std::io;
use std::path::{Path, PathBuf};

use crate::input::FunctionInfo;
use crate::options::Options;
use crate::rule_tests::RULES_FILE_NAME;

/// The rule file, relative to the output directory.
pub const RULES_PATH: &str = "rules/telemetry-rules.yml";
/// The rule tests, relative to the output directory.
pub const RULE_TESTS_PATH: &str = "rules/telemetry-rules.test.yml";
/// The dashboards' directory, relative to the output directory.
pub const DASHBOARDS_DIR: &str = "dashboards";

/// The files [`write_dir`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    /// `rules/telemetry-rules.yml`: the Prometheus rule file.
    pub rules: PathBuf,
    /// `rules/telemetry-rules.test.yml`: its promtool tests
    /// (`promtool test rules <this path>` works from any directory).
    pub rule_tests: PathBuf,
    /// `dashboards/<uid>.json`: the Grafana dashboards.
    pub dashboards: Vec<PathBuf>,
}

/// Writes the rules, their tests and the dashboards for `functions` under
/// `dir` (creating the directories), replacing files of the same names.
pub fn write_dir(functions: &[FunctionInfo], options: &Options, dir: &Path) -> io::Result<Written> {
    let rules_dir = dir.join("rules");
    std::fs::create_dir_all(&rules_dir)?;
    let rules = rules_dir.join(RULES_FILE_NAME);
    std::fs::write(&rules, crate::rules_yaml(functions, options))?;
    let rule_tests = dir.join(RULE_TESTS_PATH);
    std::fs::write(&rule_tests, crate::rule_tests_yaml(functions, options))?;
    let dashboards_dir = dir.join(DASHBOARDS_DIR);
    std::fs::create_dir_all(&dashboards_dir)?;
    let mut dashboards = Vec::new();
    for d in crate::dashboards(functions, options) {
        let path = dashboards_dir.join(&d.file_name);
        std::fs::write(&path, d.to_json_string())?;
        dashboards.push(path);
    }
    Ok(Written {
        rules,
        rule_tests,
        dashboards,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_every_file_where_it_says() {
        let dir = tempfile::tempdir().unwrap();
        let functions = [FunctionInfo::new("f", "performance")];
        let w = write_dir(&functions, &Options::default(), dir.path()).unwrap();
        assert_eq!(w.rules, dir.path().join(RULES_PATH));
        assert_eq!(w.rule_tests, dir.path().join(RULE_TESTS_PATH));
        assert_eq!(w.dashboards.len(), 3);
        for path in [&w.rules, &w.rule_tests].into_iter().chain(&w.dashboards) {
            assert!(
                std::fs::metadata(path).unwrap().len() > 0,
                "{}",
                path.display()
            );
        }
        // Writing again replaces the files.
        write_dir(&functions, &Options::for_tests(), dir.path()).unwrap();
        let rules = std::fs::read_to_string(&w.rules).unwrap();
        assert!(rules.contains("for: 0s"));
    }
}
