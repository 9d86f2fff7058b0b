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
