//! Writing YAML by hand: scalars quoted so any text survives (double
//! quotes with JSON-style escapes, which YAML reads the same way), literal
//! blocks for multi-line expressions, and a writer that keeps the
//! indentation.

use std::fmt::Write as _;

/// Whether YAML may hold `c` as it is in a scalar. YAML's printable set
/// minus the characters YAML 1.1 parsers (Prometheus') treat as line
/// breaks (NEL, LS, PS) and the byte order mark.
pub fn printable(c: char) -> bool {
    matches!(c,
        '\u{20}'..='\u{7e}'
        | '\u{a0}'..='\u{2027}'
        | '\u{202a}'..='\u{d7ff}'
        | '\u{e000}'..='\u{fefe}'
        | '\u{ff00}'..='\u{fffd}'
        | '\u{10000}'..='\u{10ffff}')
}

/// A double-quoted YAML scalar holding `s` exactly: `"` and `\` escaped,
/// and every character that is not [`printable`] as `\uXXXX` (or
/// `\UXXXXXXXX`), the escapes JSON and YAML share.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if printable(c) => out.push(c),
            c if u32::from(c) <= 0xffff => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => {
                let _ = write!(out, "\\U{:08x}", u32::from(c));
            }
        }
    }
    out.push('"');
    out
}

/// Whether `s` can be a literal block scalar (`|-`) as it is: printable,
/// not starting with a space, no line ending in one, no final newline.
fn block_ok(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with([' ', '\n'])
        && !s.ends_with('\n')
        && s.chars().all(|c| c == '\n' || printable(c))
        && s.lines().all(|l| !l.ends_with(' ') && !l.is_empty())
}

/// YAML text built line by line at a given indentation.
#[derive(Default)]
pub struct Writer {
    out: String,
}

impl Writer {
    /// A comment line (each line of `text` prefixed with `# `).
    pub fn comment(&mut self, indent: usize, text: &str) {
        for line in text.lines() {
            let line: String = line
                .chars()
                .map(|c| if printable(c) { c } else { '?' })
                .collect();
            let _ = writeln!(self.out, "{:indent$}# {line}", "");
        }
    }

    /// `key:` opening a mapping or sequence.
    pub fn open(&mut self, indent: usize, key: &str) {
        let _ = writeln!(self.out, "{:indent$}{key}:", "");
    }

    /// `key: "value"`.
    pub fn string(&mut self, indent: usize, key: &str, value: &str) {
        let _ = writeln!(self.out, "{:indent$}{key}: {}", "", quote(value));
    }

    /// `key: value` with a value that needs no quotes (a number, a
    /// duration, an empty `[]`).
    pub fn plain(&mut self, indent: usize, key: &str, value: &str) {
        let _ = writeln!(self.out, "{:indent$}{key}: {value}", "");
    }

    /// `key: |-` and `text` indented below it when a literal block holds
    /// it as it is; else a quoted scalar.
    pub fn text(&mut self, indent: usize, key: &str, text: &str) {
        if !block_ok(text) {
            self.string(indent, key, text);
            return;
        }
        let _ = writeln!(self.out, "{:indent$}{key}: |-", "");
        let inner = indent + 2;
        for line in text.lines() {
            let _ = writeln!(self.out, "{:inner$}{line}", "");
        }
    }

    /// `- ` starting a sequence item at `indent`: write its first key next,
    /// with indentation 0, and its other keys at `indent + 2`.
    pub fn item(&mut self, indent: usize) {
        let _ = write!(self.out, "{:indent$}- ", "");
    }

    /// `key: "value"` right after [`item`](Self::item).
    pub fn item_string(&mut self, indent: usize, key: &str, value: &str) {
        self.item(indent);
        self.string(0, key, value);
    }

    /// `- "value"`: a string item of a sequence.
    pub fn list_string(&mut self, indent: usize, value: &str) {
        let _ = writeln!(self.out, "{:indent$}- {}", "", quote(value));
    }

    /// An empty line.
    pub fn blank(&mut self) {
        self.out.push('\n');
    }

    /// The text.
    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Reads back a double-quoted scalar as a YAML parser does (the escapes
    /// [`quote`] writes, plus the rest of JSON's).
    pub(crate) fn unquote(s: &str) -> Option<String> {
        let inner = s.strip_prefix('"')?.strip_suffix('"')?;
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => return None,
                '\\' => match chars.next()? {
                    '"' => out.push('"'),
                    '\\' => out.push('\\'),
                    '/' => out.push('/'),
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'u' => {
                        let hex: String = chars.by_ref().take(4).collect();
                        out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                    }
                    'U' => {
                        let hex: String = chars.by_ref().take(8).collect();
                        out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                    }
                    _ => return None,
                },
                c if printable(c) => out.push(c),
                _ => return None,
            }
        }
        Some(out)
    }

    #[test]
    fn odd_text_round_trips_through_quotes() {
        for s in [
            "checkout.place_order",
            "with \"quotes\" and 'apostrophes'",
            "back\\slash\\\\es",
            "unicode: café, Ωμέγα, 日本, 🚀",
            "controls:\u{0}\u{7}\u{1b}\t\r\n\u{7f}\u{85}\u{9f}",
            "separators:\u{2028}\u{2029}\u{feff}\u{fffe}\u{ffff}",
            "yaml specials: - ? : # & * ! | > % @ ` {x} [y] , ~ null true 0x1",
            "{{ template }} and {{",
            "",
            " leading and trailing ",
        ] {
            let q = quote(s);
            assert!(!q.contains('\n'), "{q}");
            assert!(q.chars().all(printable), "{q:?}");
            assert_eq!(unquote(&q).as_deref(), Some(s), "{q}");
        }
    }

    #[test]
    fn blocks_only_for_safe_text() {
        let mut w = Writer::default();
        w.text(2, "expr", "sum(x)\n> 1");
        w.text(2, "expr", " leading");
        w.text(2, "expr", "a\u{2028}b");
        assert_eq!(
            w.finish(),
            "  expr: |-\n    sum(x)\n    > 1\n  expr: \" leading\"\n  expr: \"a\\u2028b\"\n"
        );
    }
}
