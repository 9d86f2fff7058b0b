//! `#[derive(TelemetryValue)]`: a newtype delegates to the value it wraps
//! (`struct UserId(u64)`), and an enum of unit variants is recorded as the
//! variant's name (`enum Plan { Free, Pro }` → `"Free"`, `"Pro"`).

use proc_macro2::TokenStream;
use quote::quote;
use syn::ext::IdentExt;
use syn::{Data, DeriveInput, Fields};

use crate::common;
use crate::errors::Errors;

pub(crate) fn expand(input: DeriveInput) -> TokenStream {
    let mut errors = Errors::default();
    let mut krate = None;
    for attr in input
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("telemetry"))
    {
        let result = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("crate") {
                let lit: syn::LitStr = meta.value()?.parse()?;
                krate = Some(lit.parse::<syn::Path>()?);
            } else {
                errors.at(
                    &meta.path,
                    "unknown attribute: #[derive(TelemetryValue)] takes only `crate`",
                );
                crate::errors::skip_value(&meta)?;
            }
            Ok(())
        });
        if let Err(e) = result {
            errors.push(e);
        }
    }
    let krate = common::krate(krate);
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let body = match &input.data {
        Data::Struct(s) => {
            let mut fields = s.fields.iter();
            match (fields.next(), fields.next()) {
                (Some(field), None) => {
                    let ty = &field.ty;
                    let access = match &field.ident {
                        Some(name) => quote!(self.#name),
                        None => quote!(self.0),
                    };
                    let mut where_clause = where_clause
                        .cloned()
                        .unwrap_or_else(|| syn::parse_quote!(where));
                    where_clause
                        .predicates
                        .push(syn::parse_quote!(#ty: #krate::__private::TelemetryValue));
                    Some(quote! {
                        impl #impl_generics #krate::__private::TelemetryValue for #ident #ty_generics #where_clause {
                            const TYPE: #krate::__private::FieldType = <#ty as #krate::__private::TelemetryValue>::TYPE;
                            #[inline]
                            fn to_value(&self) -> #krate::__private::Value<'_> {
                                <#ty as #krate::__private::TelemetryValue>::to_value(&#access)
                            }
                        }
                    })
                }
                _ => {
                    let at: &dyn quote::ToTokens = match &s.fields {
                        Fields::Unit => ident,
                        other => other,
                    };
                    errors.at(
                        at,
                        "#[derive(TelemetryValue)] needs a struct of exactly one field (a newtype like `struct UserId(u64)`), whose value it records; implement `TelemetryValue` by hand for other shapes",
                    );
                    None
                }
            }
        }
        Data::Enum(e) => {
            let mut arms = Vec::new();
            for v in &e.variants {
                if !matches!(v.fields, Fields::Unit) {
                    errors.at(
                        &v.fields,
                        format!(
                            "variant `{}` has fields: #[derive(TelemetryValue)] records an enum as its variant's name, so every variant must be a unit variant",
                            v.ident
                        ),
                    );
                    continue;
                }
                let name = v.ident.unraw().to_string();
                let vident = &v.ident;
                arms.push(quote!(#ident::#vident => #name,));
            }
            let matched = if arms.is_empty() {
                quote!(match *self {})
            } else {
                quote!(match self { #(#arms)* })
            };
            Some(quote! {
                impl #impl_generics #krate::__private::TelemetryValue for #ident #ty_generics #where_clause {
                    const TYPE: #krate::__private::FieldType = #krate::__private::FieldType::String;
                    #[inline]
                    fn to_value(&self) -> #krate::__private::Value<'_> {
                        #krate::__private::Value::Str(#matched)
                    }
                }
            })
        }
        Data::Union(u) => {
            errors.at(u.union_token, "#[derive(TelemetryValue)] needs a newtype struct or an enum of unit variants, not a union");
            None
        }
    };
    if !errors.is_empty() {
        return errors.into_compile_errors();
    }
    let body = body.unwrap_or_default();
    quote! {
        const _: () = {
            #[automatically_derived]
            #body
        };
    }
}
