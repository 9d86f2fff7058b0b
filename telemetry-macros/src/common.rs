//! Pieces both macros parse: categories, privacy classes, the crate path,
//! doc comments.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Expr, Ident, Path, Type};

/// A field's privacy class, as written in an attribute.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    Public,
    Hash,
    Redact,
    Skip,
}

impl Class {
    pub(crate) fn parse(ident: &Ident) -> Option<Class> {
        Some(match ident.to_string().as_str() {
            "public" => Class::Public,
            "hash" | "hashed" => Class::Hash,
            "redact" | "redacted" => Class::Redact,
            "skip" | "drop" | "dropped" => Class::Skip,
            _ => return None,
        })
    }

    pub(crate) fn tokens(self, krate: &Path) -> TokenStream {
        match self {
            Class::Public => quote!(#krate::__private::FieldClass::Public),
            Class::Hash => quote!(#krate::__private::FieldClass::Hashed),
            Class::Redact => quote!(#krate::__private::FieldClass::Redacted),
            Class::Skip => quote!(#krate::__private::FieldClass::Dropped),
        }
    }
}

pub(crate) const CLASSES: &str = "`public`, `hash`, `redact` or `skip`";
pub(crate) const CATEGORIES: &str = "`performance`, `errors`, `interaction`, `resource`, `business`, or a path to a `Category` constant";

/// `category = business` or `category = my::FRAUD`.
pub(crate) fn category(expr: &Expr, krate: &Path) -> Result<TokenStream, syn::Error> {
    if let Expr::Path(p) = expr
        && p.qself.is_none()
    {
        if let Some(ident) = p.path.get_ident() {
            let builtin = match ident.to_string().as_str() {
                "performance" => Some(quote!(PERFORMANCE)),
                "errors" => Some(quote!(ERRORS)),
                "interaction" => Some(quote!(INTERACTION)),
                "resource" => Some(quote!(RESOURCE)),
                "business" => Some(quote!(BUSINESS)),
                _ => None,
            };
            if let Some(b) = builtin {
                return Ok(quote!(#krate::__private::Category::#b));
            }
            let name = ident.to_string();
            if name.chars().any(|c| c.is_ascii_lowercase()) {
                return Err(syn::Error::new_spanned(
                    ident,
                    format!(
                        "unknown category `{name}`{}: use {CATEGORIES}",
                        crate::errors::did_you_mean(
                            &name,
                            &[
                                "performance",
                                "errors",
                                "interaction",
                                "resource",
                                "business"
                            ]
                        )
                    ),
                ));
            }
        }
        let path = &p.path;
        return Ok(quote!(#path));
    }
    Err(syn::Error::new_spanned(
        expr,
        format!("expected a category: {CATEGORIES}"),
    ))
}

/// The category tokens for an optional `category = ..`, or `default`;
/// an invalid one is reported and replaced by `default`.
pub(crate) fn category_or(
    expr: Option<&Expr>,
    krate: &Path,
    default: TokenStream,
    errors: &mut crate::errors::Errors,
) -> TokenStream {
    match expr.map(|c| category(c, krate)) {
        Some(Ok(c)) => c,
        Some(Err(e)) => {
            errors.push(e);
            default
        }
        None => default,
    }
}

/// The path generated code uses for the library (`crate = "..."` overrides).
pub(crate) fn krate(custom: Option<Path>) -> Path {
    custom.unwrap_or_else(|| syn::parse_quote!(::telemetry_core))
}

/// The doc comment, joined into one paragraph.
pub(crate) fn doc(attrs: &[syn::Attribute]) -> String {
    let mut lines = Vec::new();
    for attr in attrs {
        if attr.path().is_ident("doc")
            && let syn::Meta::NameValue(nv) = &attr.meta
            && let Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) = &nv.value
        {
            lines.push(s.value().trim().to_owned());
        }
    }
    lines
        .into_iter()
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The catalogue type of an argument or redacted field, from its syntax
/// (`opaque` when unknown): no trait bound on the type is needed.
pub(crate) fn field_type(ty: Option<&Type>, krate: &Path) -> TokenStream {
    let mut ty = ty;
    loop {
        match ty {
            Some(Type::Reference(r)) => ty = Some(&r.elem),
            Some(Type::Paren(p)) => ty = Some(&p.elem),
            Some(Type::Array(a)) => {
                let bytes = matches!(&*a.elem, Type::Path(t) if t.path.is_ident("u8"));
                return if bytes {
                    quote!(#krate::__private::FieldType::String)
                } else {
                    quote!(#krate::__private::FieldType::List)
                };
            }
            Some(Type::Path(p)) => {
                let Some(last) = p.path.segments.last() else {
                    break;
                };
                if last.ident == "Option" || last.ident == "Box" || last.ident == "Arc" {
                    if let syn::PathArguments::AngleBracketed(a) = &last.arguments
                        && let Some(syn::GenericArgument::Type(inner)) = a.args.first()
                    {
                        ty = Some(inner);
                        continue;
                    }
                    break;
                }
                let first_arg_is_u8 = match &last.arguments {
                    syn::PathArguments::AngleBracketed(a) => a.args.iter().any(|g| {
                        matches!(g, syn::GenericArgument::Type(Type::Path(t)) if t.path.is_ident("u8"))
                    }),
                    _ => false,
                };
                let kind = match last.ident.to_string().as_str() {
                    // Bytes are exported as hex text; other sequences as lists.
                    "Vec" | "Seq" if first_arg_is_u8 => quote!(String),
                    "Vec" | "Seq" => quote!(List),
                    "BTreeMap" | "HashMap" => quote!(Map),
                    "u8" | "u16" | "u32" | "u64" | "usize" => quote!(UInt),
                    "i8" | "i16" | "i32" | "i64" | "isize" => quote!(Int),
                    "f32" | "f64" => quote!(Float),
                    "bool" => quote!(Bool),
                    "str" | "String" | "Cow" => quote!(String),
                    "Duration" => quote!(Duration),
                    "SystemTime" => quote!(Timestamp),
                    _ => break,
                };
                return quote!(#krate::__private::FieldType::#kind);
            }
            _ => break,
        }
    }
    quote!(#krate::__private::FieldType::Opaque)
}
