//! Collects every error of one macro invocation, so the user sees them all
//! in one build, each pointing at the offending token.

use proc_macro2::TokenStream;
use quote::ToTokens;

#[derive(Default)]
pub(crate) struct Errors {
    errors: Vec<syn::Error>,
}

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        self.errors.push(error);
    }

    pub(crate) fn at(&mut self, tokens: impl ToTokens, message: impl std::fmt::Display) {
        self.errors.push(syn::Error::new_spanned(tokens, message));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// All errors as `compile_error!` invocations.
    pub(crate) fn into_compile_errors(self) -> TokenStream {
        self.errors
            .into_iter()
            .map(|e| e.to_compile_error())
            .collect()
    }
}

/// Sets a value once, reporting a second setting as a duplicate.
pub(crate) fn set_once<T>(
    errors: &mut Errors,
    slot: &mut Option<T>,
    value: T,
    tokens: impl ToTokens,
    what: &str,
) {
    if slot.is_some() {
        errors.at(tokens, format!("duplicate `{what}`: give it once"));
    } else {
        *slot = Some(value);
    }
}

/// Skips the value of an attribute key that was reported as unknown, so the
/// parser does not add a confusing "expected `,`" error after it.
pub(crate) fn skip_value(meta: &syn::meta::ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(syn::Token![=]) {
        let _: syn::Expr = meta.value()?.parse()?;
    } else if meta.input.peek(syn::token::Paren) {
        let _content;
        syn::parenthesized!(_content in meta.input);
        let _: proc_macro2::TokenStream = _content.parse()?;
    }
    Ok(())
}
