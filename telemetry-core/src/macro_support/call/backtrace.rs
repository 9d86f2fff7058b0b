//! The stack frames of the instrumented crate, for an `exception` event's
//! `exception.stacktrace`: its own frames only, with paths cut to its
//! source folder.

/// The stack frames of crate `krate`, innermost first, one a line:
/// `symbol (src/file.rs:line)`. Frames of the standard library, of
/// dependencies and of this library are left out, and so is everything
/// before `src/` in a path (a home directory, a build machine's layout).
pub(super) fn own_frames(krate: &str) -> String {
    let trace = std::backtrace::Backtrace::force_capture().to_string();
    let prefix = format!("{krate}::");
    let mut out = String::new();
    let mut lines = trace.lines().peekable();
    while let Some(line) = lines.next() {
        // `  12: symbol` then, if known, `             at path:line:col`.
        let symbol = line
            .trim_start()
            .split_once(": ")
            .map(|(n, sym)| (n, sym.trim()))
            .filter(|(n, _)| n.chars().all(|c| c.is_ascii_digit()))
            .map(|(_, sym)| sym);
        let Some(symbol) = symbol else {
            continue;
        };
        let location = lines
            .peek()
            .and_then(|l| l.trim_start().strip_prefix("at "))
            .map(str::to_owned);
        if location.is_some() {
            lines.next();
        }
        if !symbol.starts_with(&prefix) {
            continue;
        }
        let symbol = symbol.rsplit_once("::h").map_or(symbol, |(s, hash)| {
            if hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit()) {
                s
            } else {
                symbol
            }
        });
        out.push_str(symbol);
        if let Some(location) = location {
            // From the crate's own source folder on, else the file name.
            let short = ["src/", "tests/", "examples/", "benches/"]
                .iter()
                .filter_map(|dir| location.rfind(dir))
                .max()
                .and_then(|i| location.get(i..))
                .or_else(|| location.rsplit('/').next())
                .unwrap_or(&location);
            out.push_str(" (");
            out.push_str(short);
            out.push(')');
        }
        out.push('\n');
    }
    out
}
