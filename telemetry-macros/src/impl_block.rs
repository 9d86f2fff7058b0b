//! `#[instrument_event]` on an `impl` block: names the instrumented
//! methods inside it `Type::method`. A method attribute cannot see the
//! type it belongs to; the block's attribute can, and rewrites the
//! methods' own `#[instrument_event(..)]` with `name = "Type::method"`
//! unless they give a name.

use proc_macro2::{TokenStream, TokenTree};
use quote::{ToTokens, quote};
use syn::ext::IdentExt;
use syn::{ImplItem, ItemImpl, Meta, Type};

use crate::errors::Errors;

/// Whether `attr` is `#[instrument_event]` (any path ending in it).
fn is_instrument(attr: &syn::Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|s| s.ident == "instrument_event")
}

/// Whether the arguments name the function themselves (`name = ..` at the
/// top level).
fn has_name(args: &TokenStream) -> bool {
    let tokens: Vec<TokenTree> = args.clone().into_iter().collect();
    tokens.windows(2).any(|w| {
        matches!(w, [TokenTree::Ident(i), TokenTree::Punct(p)] if i == "name" && p.as_char() == '=')
    })
}

/// The type's name as it reads in code: the last path segment, without
/// generics (`Document` for `crate::docs::Document<T>`), through
/// references.
fn type_name(ty: &Type) -> Option<String> {
    match ty {
        Type::Path(p) if p.qself.is_none() => {
            p.path.segments.last().map(|s| s.ident.unraw().to_string())
        }
        Type::Reference(r) => type_name(&r.elem),
        Type::Paren(p) => type_name(&p.elem),
        Type::Group(g) => type_name(&g.elem),
        _ => None,
    }
}

/// Expands the attribute on an `impl` block.
pub(crate) fn expand(args: TokenStream, mut block: ItemImpl) -> TokenStream {
    let mut errors = Errors::default();
    if !args.is_empty() {
        errors.at(
            &args,
            "on an `impl` block, #[instrument_event] takes no arguments: it names the \
             instrumented methods inside it `Type::method`; give each method its own \
             #[instrument_event(..)] with its arguments",
        );
    }
    let Some(ty) = type_name(&block.self_ty) else {
        errors.at(
            &block.self_ty,
            "#[instrument_event] on an `impl` block needs a named type (`impl Document`, \
             `impl Trait for Document`): name the methods with `name = \"..\"` instead",
        );
        let errs = errors.into_compile_errors();
        return quote!(#errs #block);
    };
    let mut instrumented = 0;
    for item in &mut block.items {
        let ImplItem::Fn(f) = item else {
            continue;
        };
        let method = f.sig.ident.unraw().to_string();
        for attr in f.attrs.iter_mut().filter(|a| is_instrument(a)) {
            instrumented += 1;
            let (path, args) = match &attr.meta {
                Meta::Path(p) => (p.clone(), TokenStream::new()),
                Meta::List(l) => (l.path.clone(), l.tokens.clone()),
                Meta::NameValue(nv) => {
                    errors.at(
                        nv,
                        "write `#[instrument_event]` or `#[instrument_event(..)]`",
                    );
                    continue;
                }
            };
            if has_name(&args) {
                continue;
            }
            let name = format!("{ty}::{method}");
            let args = if args.is_empty() {
                quote!(name = #name)
            } else {
                quote!(name = #name, #args)
            };
            *attr = syn::parse_quote!(#[#path(#args)]);
        }
    }
    if instrumented == 0 {
        errors.at(
            &block.self_ty,
            "no method of this `impl` block has #[instrument_event]: put it on the methods \
             to instrument (the block's attribute only names them `Type::method`)",
        );
    }
    let errs = errors.into_compile_errors();
    let block = block.into_token_stream();
    quote!(#errs #block)
}
