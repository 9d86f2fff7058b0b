//! Alert label and annotation values. Prometheus expands them as Go
//! templates, so literal text (a function's name may hold `{{`) is
//! escaped, and a value may name a label of the alert's series
//! (`{{ $labels.instance }}`). The same value renders as Prometheus will
//! expand it, for the expected alerts of the rule tests.

/// A piece of a value.
#[derive(Clone, Debug, PartialEq)]
enum Piece {
    Text(String),
    Label(&'static str),
}

/// A label or annotation value: literal text and labels of the series.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Text(Vec<Piece>);

impl Text {
    /// Literal text.
    pub fn lit(s: impl Into<String>) -> Self {
        Text(vec![Piece::Text(s.into())])
    }

    /// This value followed by literal text.
    #[must_use]
    pub fn then(mut self, s: impl Into<String>) -> Self {
        self.0.push(Piece::Text(s.into()));
        self
    }

    /// This value followed by the value of the series' label `name`.
    #[must_use]
    pub fn label(mut self, name: &'static str) -> Self {
        self.0.push(Piece::Label(name));
        self
    }

    /// The Go template Prometheus expands: every `{` of literal text is
    /// written as `{{ "{" }}`, so no literal text opens an action.
    pub fn template(&self) -> String {
        let mut out = String::new();
        for piece in &self.0 {
            match piece {
                Piece::Text(s) => {
                    for c in s.chars() {
                        if c == '{' {
                            out.push_str("{{ \"{\" }}");
                        } else {
                            out.push(c);
                        }
                    }
                }
                Piece::Label(name) => {
                    out.push_str("{{ $labels.");
                    out.push_str(name);
                    out.push_str(" }}");
                }
            }
        }
        out
    }

    /// The value Prometheus gives the template for a series with `labels`.
    pub fn render(&self, labels: &[(String, String)]) -> String {
        let mut out = String::new();
        for piece in &self.0 {
            match piece {
                Piece::Text(s) => out.push_str(s),
                Piece::Label(name) => {
                    if let Some((_, v)) = labels.iter().find(|(k, _)| k == name) {
                        out.push_str(v);
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn braces_are_escaped_and_labels_rendered() {
        let t = Text::lit("f{{x}} on ").label("instance").then(".");
        assert_eq!(
            t.template(),
            "f{{ \"{\" }}{{ \"{\" }}x}} on {{ $labels.instance }}."
        );
        assert_eq!(
            t.render(&[("instance".to_owned(), "a:1".to_owned())]),
            "f{{x}} on a:1."
        );
    }
}
