//! `#[derive(TelemetryEvent)]`: parse the container and field attributes,
//! then generate the `TelemetryEvent` impl and the catalogue registration.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Expr, Fields, Lit, LitStr, Path, Type};

use crate::common::{self, CLASSES, Class};
use crate::errors::{Errors, did_you_mean, set_once, skip_value};

struct Container {
    /// A `default` was given (even an invalid one): no unclassified-field errors.
    default_given: bool,
    name: Option<LitStr>,
    category: Option<Expr>,
    version: Option<u32>,
    default: Option<Class>,
    krate: Option<Path>,
}

enum Role {
    Class(Class),
    Subject,
}

struct Field<'a> {
    /// One of its attributes was invalid (already reported).
    invalid: bool,
    ident: &'a syn::Ident,
    ty: &'a Type,
    role: Option<Role>,
    rename: Option<LitStr>,
    label: Option<proc_macro2::Span>,
}

fn parse_container(input: &DeriveInput, errors: &mut Errors) -> Container {
    let mut c = Container {
        default_given: false,
        name: None,
        category: None,
        version: None,
        default: None,
        krate: None,
    };
    for attr in input
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("telemetry"))
    {
        let result = attr.parse_nested_meta(|meta| {
            let key = meta.path.get_ident().map(ToString::to_string).unwrap_or_default();
            match key.as_str() {
                "name" => {
                    let lit: LitStr = meta.value()?.parse()?;
                    if lit.value().trim().is_empty() {
                        errors.at(&lit, "the event name is empty: give a name like \"checkout.purchase_completed\"");
                    }
                    set_once(errors, &mut c.name, lit, &meta.path, "name");
                }
                "category" => {
                    let expr: Expr = meta.value()?.parse()?;
                    set_once(errors, &mut c.category, expr, &meta.path, "category");
                }
                "version" => {
                    let lit: Lit = meta.value()?.parse()?;
                    match &lit {
                        Lit::Int(i) => match i.base10_parse::<u32>() {
                            Ok(v) if v > 0 => set_once(errors, &mut c.version, v, &meta.path, "version"),
                            _ => errors.at(&lit, "the schema version must be a whole number from 1"),
                        },
                        _ => errors.at(&lit, "the schema version must be a whole number, like `version = 2`"),
                    }
                }
                "default" => {
                    c.default_given = true;
                    let ident: syn::Ident = meta.value()?.parse()?;
                    match Class::parse(&ident) {
                        Some(class) => set_once(errors, &mut c.default, class, &meta.path, "default"),
                        None => errors.at(
                            &ident,
                            format!(
                                "unknown class `{ident}`{}: use {CLASSES}",
                                did_you_mean(&ident.to_string(), &["public", "hash", "redact", "skip"])
                            ),
                        ),
                    }
                }
                "crate" => {
                    let lit: LitStr = meta.value()?.parse()?;
                    match lit.parse::<Path>() {
                        Ok(p) => set_once(errors, &mut c.krate, p, &meta.path, "crate"),
                        Err(_) => errors.at(&lit, "`crate` must be a path, like \"my_telemetry::core\""),
                    }
                }
                _ => {
                    errors.at(
                        &meta.path,
                        format!(
                            "unknown attribute{}: use `name`, `category`, `version`, `default` or `crate`",
                            did_you_mean(&key, &["name", "category", "version", "default", "crate"])
                        ),
                    );
                    skip_value(&meta)?;
                }
            }
            Ok(())
        });
        if let Err(e) = result {
            errors.push(e);
        }
    }
    if c.category.is_none() {
        errors.at(
            &input.ident,
            "missing category: add #[telemetry(category = business)] (or performance, errors, interaction, resource)",
        );
    }
    c
}

fn parse_field<'a>(field: &'a syn::Field, errors: &mut Errors) -> Option<Field<'a>> {
    let ident = field.ident.as_ref()?;
    let mut role: Option<Role> = None;
    let mut rename = None;
    let mut label = None;
    let mut invalid = false;
    for attr in field
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("telemetry"))
    {
        let result = attr.parse_nested_meta(|meta| {
            let key = meta.path.get_ident().map(ToString::to_string).unwrap_or_default();
            let new_role = match key.as_str() {
                "subject" => Some(Role::Subject),
                "rename" => {
                    let lit: LitStr = meta.value()?.parse()?;
                    set_once(errors, &mut rename, lit, &meta.path, "rename");
                    None
                }
                "label" => {
                    set_once(errors, &mut label, meta.path.span(), &meta.path, "label");
                    None
                }
                other => match syn::Ident::new(other, meta.path.span()) {
                    i if Class::parse(&i).is_some() => Class::parse(&i).map(Role::Class),
                    _ => {
                        errors.at(
                            &meta.path,
                            format!(
                                "unknown field attribute{}: use {CLASSES}, `subject`, `rename` or `label`",
                                did_you_mean(other, &["public", "hash", "redact", "skip", "subject", "rename", "label"])
                            ),
                        );
                        invalid = true;
                        skip_value(&meta)?;
                        None
                    }
                },
            };
            if let Some(r) = new_role {
                if role.is_some() {
                    errors.at(
                        &meta.path,
                        "a field takes one class: `public`, `hash`, `redact`, `skip` or `subject`, not two",
                    );
                } else {
                    role = Some(r);
                }
            }
            Ok(())
        });
        if let Err(e) = result {
            invalid = true;
            errors.push(e);
        }
    }
    Some(Field {
        invalid,
        ident,
        ty: &field.ty,
        role,
        rename,
        label,
    })
}

pub(crate) fn expand(input: DeriveInput) -> TokenStream {
    let mut errors = Errors::default();
    let container = parse_container(&input, &mut errors);
    let krate = common::krate(container.krate.clone());
    let ident = &input.ident;
    let data = match &input.data {
        Data::Struct(s) => Some(s),
        Data::Enum(e) => {
            errors.at(
                e.enum_token,
                "#[derive(TelemetryEvent)] needs a struct with named fields; an enum's variants carry different fields, so derive it on a struct per event",
            );
            None
        }
        Data::Union(u) => {
            errors.at(
                u.union_token,
                "#[derive(TelemetryEvent)] needs a struct with named fields, not a union",
            );
            None
        }
    };
    let mut fields = Vec::new();
    if let Some(s) = data {
        match &s.fields {
            Fields::Named(named) => {
                for f in &named.named {
                    if let Some(f) = parse_field(f, &mut errors) {
                        fields.push(f);
                    }
                }
            }
            Fields::Unit => {}
            Fields::Unnamed(u) => errors.at(
                u,
                "#[derive(TelemetryEvent)] needs named fields: the names are exported",
            ),
        }
    }
    // Every field classified; one subject at most; labels only on public fields.
    let mut subject: Option<&syn::Ident> = None;
    for f in &fields {
        match (&f.role, container.default) {
            (None, None) if f.invalid || container.default_given => {}
            (None, None) => errors.at(
                f.ident,
                format!(
                    "field `{}` is not classified: add #[telemetry(public)], #[telemetry(hash)], #[telemetry(redact)] or #[telemetry(skip)] (or a container default: #[telemetry(default = skip)])",
                    f.ident
                ),
            ),
            (Some(Role::Subject), _) => {
                if let Some(first) = subject {
                    errors.at(
                        f.ident,
                        format!("two subject fields (`{first}` and `{}`): an event has one data subject", f.ident),
                    );
                } else {
                    subject = Some(f.ident);
                }
            }
            _ => {}
        }
        let class = match &f.role {
            Some(Role::Class(c)) => Some(*c),
            Some(Role::Subject) => None,
            None => container.default,
        };
        if let Some(span) = f.label
            && class != Some(Class::Public)
        {
            errors.push(syn::Error::new(
                span,
                format!(
                    "field `{}` cannot be a metric label: only public fields can; hashed and redacted values are identifiers, which are high-cardinality and do not belong in metrics",
                    f.ident
                ),
            ));
        }
    }
    let name = container
        .name
        .as_ref()
        .map_or_else(|| to_snake(&ident.unraw().to_string()), LitStr::value);
    // Exported field names are unique (a rename may collide with another
    // field, or two renames with each other).
    let mut exported: Vec<(String, &syn::Ident)> = Vec::new();
    for f in &fields {
        if matches!(f.role, Some(Role::Subject)) {
            continue;
        }
        let fname = exported_name(f);
        if let Some((_, first)) = exported.iter().find(|(n, _)| *n == fname) {
            let at: &dyn quote::ToTokens = match &f.rename {
                Some(r) => r,
                None => f.ident,
            };
            errors.at(
                at,
                format!(
                    "two fields are exported as `{fname}` (`{first}` and `{}`): give one of them another `rename`",
                    f.ident
                ),
            );
        } else {
            exported.push((fname, f.ident));
        }
    }
    let category = common::category_or(
        container.category.as_ref(),
        &krate,
        quote!(#krate::__private::Category::BUSINESS),
        &mut errors,
    );
    if !errors.is_empty() {
        // Report every error, plus a stub impl so the user is not buried in
        // follow-on "trait not implemented" errors.
        let stub = stub_impl(&input, &krate);
        let errors = errors.into_compile_errors();
        return quote!(#errors #stub);
    }
    let version = container.version.unwrap_or(1);
    let description = common::doc(&input.attrs);
    let mut schema_fields = Vec::new();
    let mut visits = Vec::new();
    for f in &fields {
        let class = match &f.role {
            Some(Role::Class(c)) => *c,
            Some(Role::Subject) => continue,
            None => container.default.unwrap_or(Class::Skip),
        };
        let fname = exported_name(f);
        let fident = f.ident;
        let ty = f.ty;
        let class_tokens = class.tokens(&krate);
        let index = schema_fields.len();
        // A redacted or skipped value is never read, so its type needs no
        // `TelemetryValue`: a redacted one is described from its syntax.
        let field_type = match class {
            Class::Skip => quote!(#krate::__private::FieldType::Opaque),
            Class::Redact => common::field_type(Some(ty), &krate),
            _ => quote_spanned!(ty.span()=> <#ty as #krate::__private::TelemetryValue>::TYPE),
        };
        schema_fields.push(quote! {
            #krate::__private::FieldSchema { name: #fname, ty: #field_type, class: #class_tokens }
        });
        match class {
            Class::Public | Class::Hash => visits.push(quote_spanned! {ty.span()=>
                __telemetry_visitor.field(#index, <#ty as #krate::__private::TelemetryValue>::to_value(&self.#fident));
            }),
            // A redacted value is never read: the visitor gets the marker.
            Class::Redact => visits.push(quote! {
                let _ = &self.#fident;
                __telemetry_visitor.field(#index, #krate::__private::Value::Absent);
            }),
            // A skipped field is not read either; mentioning it keeps the
            // derive from making it look unused.
            Class::Skip => visits.push(quote! {
                let _ = &self.#fident;
            }),
        }
    }
    let subject_fn = match subject {
        Some(s) => {
            let ty = fields.iter().find(|f| f.ident == s).map(|f| f.ty);
            let (text, with) = match ty {
                Some(ty) => (
                    quote_spanned!(ty.span()=> #krate::__private::subject_text::<#ty>(&self.#s)),
                    quote_spanned!(ty.span()=> #krate::__private::with_subject_id::<#ty, __TelemetryR, _>(&self.#s, |__telemetry_id| __telemetry_f(::core::option::Option::Some(__telemetry_id)))),
                ),
                None => (
                    quote!(#krate::__private::subject_text(&self.#s)),
                    quote!(#krate::__private::with_subject_id(&self.#s, |__telemetry_id| __telemetry_f(::core::option::Option::Some(__telemetry_id)))),
                ),
            };
            quote! {
                const NAMES_SUBJECT: bool = true;

                fn subject(&self) -> ::core::option::Option<&str> {
                    #text
                }

                #[inline(always)]
                fn with_subject<__TelemetryR>(
                    &self,
                    __telemetry_f: impl ::core::ops::FnOnce(::core::option::Option<&str>) -> __TelemetryR,
                ) -> __TelemetryR {
                    #with
                }
            }
        }
        None => quote!(),
    };
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    // Only types without type parameters can be registered in the catalogue
    // (a generic event has no single schema).
    let register = if input.generics.type_params().next().is_none()
        && input.generics.const_params().next().is_none()
    {
        let lifetimes = input.generics.lifetimes().map(|_| quote!('static));
        let concrete = if input.generics.lifetimes().next().is_some() {
            quote!(#ident<#(#lifetimes),*>)
        } else {
            quote!(#ident)
        };
        quote! {
            #krate::__private::inventory::submit! {
                #krate::__private::CatalogueItem::Event {
                    schema: <#concrete as #krate::__private::TelemetryEvent>::SCHEMA,
                    source: #krate::__private::SourceLocation {
                        module: ::core::module_path!(),
                        file: ::core::file!(),
                        line: ::core::line!(),
                    },
                }
            }
        }
    } else {
        quote!()
    };
    let visitor = format_ident!("__telemetry_visitor");
    quote! {
        const _: () = {
            #[automatically_derived]
            impl #impl_generics #krate::__private::TelemetryEvent for #ident #ty_generics #where_clause {
                const SCHEMA: &'static #krate::__private::EventSchema = &#krate::__private::EventSchema {
                    name: #name,
                    category: #category,
                    version: #version,
                    description: #description,
                    fields: &[#(#schema_fields),*],
                };

                #subject_fn

                #[allow(unused_variables)]
                fn visit_fields(&self, #visitor: &mut dyn #krate::__private::FieldVisitor) {
                    #(#visits)*
                }
            }

            #register
        };
    }
}

fn stub_impl(input: &DeriveInput, krate: &Path) -> TokenStream {
    if !matches!(input.data, Data::Struct(_)) {
        return quote!();
    }
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    quote! {
        const _: () = {
            impl #impl_generics #krate::__private::TelemetryEvent for #ident #ty_generics #where_clause {
                const SCHEMA: &'static #krate::__private::EventSchema = &#krate::__private::EventSchema {
                    name: "", category: #krate::__private::Category::BUSINESS, version: 1, description: "", fields: &[],
                };
                fn visit_fields(&self, _: &mut dyn #krate::__private::FieldVisitor) {}
            }
        };
    }
}

/// The name a field is exported under: its `rename`, else its name
/// without a raw identifier's `r#`.
fn exported_name(f: &Field<'_>) -> String {
    f.rename
        .as_ref()
        .map_or_else(|| f.ident.unraw().to_string(), LitStr::value)
}

/// `HTTPRequestDone` → `http_request_done`, `OrderV2Placed` →
/// `order_v2_placed`: a word starts at an upper-case letter that follows a
/// lower-case letter or a digit, or that ends a run of capitals followed by
/// a lower-case letter.
fn to_snake(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev = i.checked_sub(1).and_then(|p| chars.get(p));
            let next = chars.get(i + 1);
            let starts_word = match prev {
                None | Some('_') => false,
                Some(p) if p.is_lowercase() || p.is_ascii_digit() => true,
                Some(p) => p.is_uppercase() && next.is_some_and(|n| n.is_lowercase()),
            };
            if starts_word {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::to_snake;

    #[test]
    fn default_event_names_are_proper_snake_case() {
        for (from, to) in [
            ("OrderPlaced", "order_placed"),
            ("HTTPRequestDone", "http_request_done"),
            ("RequestHTTP", "request_http"),
            ("OrderV2Placed", "order_v2_placed"),
            ("IOError", "io_error"),
            ("A", "a"),
            ("already_snake", "already_snake"),
            ("Mixed_Case", "mixed_case"),
        ] {
            assert_eq!(to_snake(from), to, "{from}");
        }
    }
}
