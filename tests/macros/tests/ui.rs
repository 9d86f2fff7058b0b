//! Compile-time behaviour of the macros: every supported form compiles and
//! runs (`ui/pass`), every misuse is a clear error at the offending token
//! (`ui/fail`, one misuse per file, with its reviewed `.stderr`).
#![allow(missing_docs)]

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
