//! `#[instrument_event]`: parse the arguments, then wrap the function body
//! in a call that checks consent and sampling first, records a span, a call
//! counter and a duration histogram, and (with `err`) an error event.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::ext::IdentExt;
use syn::{Expr, FnArg, Ident, ItemFn, LitStr, Pat, Path, ReturnType, Type};

use crate::common::{self, CLASSES, Class};
use crate::errors::{Errors, did_you_mean, set_once, skip_value};

#[derive(Default)]
pub(crate) struct Args {
    name: Option<LitStr>,
    category: Option<Expr>,
    fields: Vec<(Ident, Class)>,
    /// `err`: `Some(None)`; `err(message = class)`: `Some(Some(class))`.
    err: Option<Option<Class>>,
    /// `err(backtrace)`.
    backtrace: bool,
    err_span: Option<Span>,
    ret: Option<Class>,
    subject: Option<Ident>,
    krate: Option<Path>,
    objective: Option<Objective>,
}

/// `objective(success = .., latency_ms = .., latency_percentile = ..)`.
#[derive(Default)]
struct Objective {
    success: Option<f64>,
    latency_ms: Option<f64>,
    latency_percentile: Option<f64>,
}

/// The latency thresholds an objective may use: the bounds of the
/// duration histogram, in milliseconds (`FUNCTION_DURATION_BOUNDS`).
const LATENCY_BOUNDS_MS: [f64; 14] = [
    0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0,
];

/// A number literal (`99`, `99.9`) as `f64`.
fn parse_number(input: syn::parse::ParseStream<'_>) -> syn::Result<(f64, Span)> {
    let lit: syn::Lit = input.parse()?;
    let value = match &lit {
        syn::Lit::Int(i) => i.base10_parse::<f64>(),
        syn::Lit::Float(f) => f.base10_parse::<f64>(),
        _ => Err(syn::Error::new(
            lit.span(),
            "expected a number, like `99.9`",
        )),
    }?;
    Ok((value, lit.span()))
}

fn parse_objective(
    meta: &syn::meta::ParseNestedMeta<'_>,
    errors: &mut Errors,
) -> syn::Result<Objective> {
    let mut o = Objective::default();
    let keys = ["success", "latency_ms", "latency_percentile"];
    meta.parse_nested_meta(|inner| {
        let key = inner
            .path
            .get_ident()
            .map(ToString::to_string)
            .unwrap_or_default();
        if !keys.contains(&key.as_str()) {
            errors.at(
                &inner.path,
                format!(
                    "unknown objective{}: use `success = 99.9` (percent of calls that succeed), \
                     `latency_ms = 250` and `latency_percentile = 99` (percent of calls within it)",
                    did_you_mean(&key, &keys)
                ),
            );
            return skip_value(&inner);
        }
        let (value, span) = parse_number(inner.value()?)?;
        let percent = |errors: &mut Errors| {
            if !(value > 0.0 && value < 100.0) {
                errors.at_span(
                    span,
                    format!("`{key}` is a percentage above 0 and below 100, like 99.9"),
                );
            }
        };
        match key.as_str() {
            "success" => {
                percent(errors);
                o.success = Some(value);
            }
            "latency_percentile" => {
                percent(errors);
                o.latency_percentile = Some(value);
            }
            _ => {
                if !LATENCY_BOUNDS_MS.contains(&value) {
                    errors.at_span(
                        span,
                        format!(
                            "`latency_ms` must be a bucket bound of the duration histogram, so \
                             the objective can be measured exactly: one of {}",
                            LATENCY_BOUNDS_MS
                                .iter()
                                .map(ToString::to_string)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    );
                }
                o.latency_ms = Some(value);
            }
        }
        Ok(())
    })?;
    if o.success.is_none() && o.latency_ms.is_none() {
        errors.at(
            &meta.path,
            "an objective needs `success = ..` or `latency_ms = ..`, like `objective(success = 99.9, latency_ms = 250)`",
        );
    }
    if o.latency_percentile.is_some() && o.latency_ms.is_none() {
        errors.at(
            &meta.path,
            "`latency_percentile` needs `latency_ms`: the share of calls faster than what?",
        );
    }
    if o.latency_ms.is_some() && o.latency_percentile.is_none() {
        o.latency_percentile = Some(99.0);
    }
    Ok(o)
}

pub(crate) fn parse_args(tokens: TokenStream, errors: &mut Errors) -> Args {
    let mut args = Args::default();
    let mut fields_seen = false;
    let parser = syn::meta::parser(|meta| {
        let key = meta
            .path
            .get_ident()
            .map(ToString::to_string)
            .unwrap_or_default();
        match key.as_str() {
            "name" => {
                let lit: LitStr = meta.value()?.parse()?;
                if lit.value().trim().is_empty() {
                    errors.at(
                        &lit,
                        "the name is empty: give a name like \"checkout.place_order\"",
                    );
                }
                set_once(errors, &mut args.name, lit, &meta.path, "name");
            }
            "category" => {
                let expr: Expr = meta.value()?.parse()?;
                set_once(errors, &mut args.category, expr, &meta.path, "category");
            }
            "fields" => {
                if fields_seen {
                    errors.at(
                        &meta.path,
                        "duplicate `fields`: list every recorded argument in one `fields(..)`",
                    );
                }
                fields_seen = true;
                meta.parse_nested_meta(|inner| {
                    let Some(ident) = inner.path.get_ident().cloned() else {
                        errors.at(&inner.path, "expected an argument name");
                        return Ok(());
                    };
                    let class = if inner.input.peek(syn::Token![=]) {
                        let class_ident: Ident = inner.value()?.parse()?;
                        match Class::parse(&class_ident) {
                            Some(c) => c,
                            None => {
                                errors.at(
                                    &class_ident,
                                    format!(
                                        "unknown class `{class_ident}`{}: use {CLASSES}",
                                        did_you_mean(
                                            &class_ident.to_string(),
                                            &["public", "hash", "redact", "skip"]
                                        )
                                    ),
                                );
                                Class::Public
                            }
                        }
                    } else {
                        Class::Public
                    };
                    if args.fields.iter().any(|(f, _)| *f == ident) {
                        errors.at(
                            &ident,
                            format!("argument `{ident}` is listed twice in `fields`"),
                        );
                    } else {
                        args.fields.push((ident, class));
                    }
                    Ok(())
                })?;
            }
            "err" => {
                let mut message = None;
                if meta.input.peek(syn::token::Paren) {
                    meta.parse_nested_meta(|inner| {
                        if inner.path.is_ident("backtrace") {
                            args.backtrace = true;
                            return Ok(());
                        }
                        if !inner.path.is_ident("message") {
                            errors.at(
                                &inner.path,
                                "unknown `err` option: `err` records the error type, `err(message = public)` also its message, `err(backtrace)` the stack frames of this crate",
                            );
                            return skip_value(&inner);
                        }
                        if !inner.input.peek(syn::Token![=]) {
                            errors.at(
                                &inner.path,
                                "say how the error message is treated: `err(message = public)`, `err(message = hash)` \
                                 or `err(message = redact)`; a message can carry personal data (\"user bob@example.com may not edit\")",
                            );
                            return Ok(());
                        }
                        let ident: Ident = inner.value()?.parse()?;
                        match Class::parse(&ident) {
                            Some(Class::Skip) | None => errors.at(
                                &ident,
                                "the message takes `public`, `hash` or `redact` (leave `(message = ..)` out to record the type only)",
                            ),
                            Some(c) => message = Some(c),
                        }
                        Ok(())
                    })?;
                }
                set_once(errors, &mut args.err, message, &meta.path, "err");
                args.err_span = Some(syn::spanned::Spanned::span(&meta.path));
            }
            "ret" => {
                let class = if meta.input.peek(syn::Token![=]) {
                    let ident: Ident = meta.value()?.parse()?;
                    match Class::parse(&ident) {
                        Some(Class::Skip) | None => {
                            errors.at(&ident, "`ret` takes `public`, `hash` or `redact`");
                            Class::Public
                        }
                        Some(c) => c,
                    }
                } else {
                    Class::Public
                };
                set_once(errors, &mut args.ret, class, &meta.path, "ret");
            }
            "subject" => {
                let ident: Ident = meta.value()?.parse()?;
                set_once(errors, &mut args.subject, ident, &meta.path, "subject");
            }
            "objective" => {
                let o = parse_objective(&meta, errors)?;
                set_once(errors, &mut args.objective, o, &meta.path, "objective");
            }
            "crate" => {
                let lit: LitStr = meta.value()?.parse()?;
                match lit.parse::<Path>() {
                    Ok(p) => set_once(errors, &mut args.krate, p, &meta.path, "crate"),
                    Err(_) => {
                        errors.at(&lit, "`crate` must be a path, like \"my_telemetry::core\"")
                    }
                }
            }
            _ => {
                errors.at(
                    &meta.path,
                    format!(
                        "unknown argument{}: use `name`, `category`, `fields(..)`, `err`, `ret`, `subject`, `objective(..)` or `crate`",
                        did_you_mean(
                            &key,
                            &["name", "category", "fields", "err", "ret", "subject", "objective", "crate"]
                        )
                    ),
                );
                skip_value(&meta)?;
            }
        }
        Ok(())
    });
    if let Err(e) = syn::parse::Parser::parse2(parser, tokens) {
        errors.push(e);
    }
    args
}

/// Whether a return type can be written as a closure's return type (no
/// `impl Trait`, no elided lifetimes).
fn nameable(ty: &Type) -> bool {
    struct Check(bool);
    impl syn::visit::Visit<'_> for Check {
        fn visit_type_impl_trait(&mut self, _: &syn::TypeImplTrait) {
            self.0 = false;
        }
        fn visit_type_reference(&mut self, r: &syn::TypeReference) {
            if r.lifetime.is_none() {
                self.0 = false;
            }
            syn::visit::visit_type_reference(self, r);
        }
        fn visit_lifetime(&mut self, l: &syn::Lifetime) {
            if l.ident == "_" {
                self.0 = false;
            }
        }
        fn visit_type_infer(&mut self, _: &syn::TypeInfer) {
            self.0 = false;
        }
    }
    let mut c = Check(true);
    syn::visit::Visit::visit_type(&mut c, ty);
    c.0
}

/// Whether the return type is `impl Future<..>`.
fn returns_impl_future(ret: &ReturnType) -> bool {
    match ret {
        ReturnType::Type(_, ty) => match &**ty {
            Type::ImplTrait(t) => t.bounds.iter().any(|b| match b {
                syn::TypeParamBound::Trait(tr) => {
                    tr.path.segments.last().is_some_and(|s| s.ident == "Future")
                }
                _ => false,
            }),
            _ => false,
        },
        ReturnType::Default => false,
    }
}

/// [`expand`] when instrumentation is compiled in (the `instrument`
/// feature); else the item exactly as written.
pub(crate) fn expand_if(enabled: bool, args: TokenStream, item: TokenStream) -> TokenStream {
    if enabled { expand(args, item) } else { item }
}

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    if let Ok(block) = syn::parse2::<syn::ItemImpl>(item.clone()) {
        return crate::impl_block::expand(args, block);
    }
    let mut errors = Errors::default();
    let parsed = parse_args(args, &mut errors);
    let func: ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        Err(_) => {
            let message = match syn::parse2::<syn::TraitItemFn>(item.clone()) {
                Ok(f) => {
                    return syn::Error::new_spanned(
                        f.sig.ident,
                        "#[instrument_event] needs a function body: put it on the implementations (or a default body), not on a method declaration",
                    )
                    .to_compile_error();
                }
                Err(_) => "#[instrument_event] goes on a function (fn, async fn, method)",
            };
            let span = item
                .clone()
                .into_iter()
                .next()
                .map_or_else(Span::call_site, |t| t.span());
            let mut e = Errors::default();
            e.push(syn::Error::new(span, message));
            let err = e.into_compile_errors();
            return quote!(#err #item);
        }
    };
    if let Some(c) = &func.sig.constness {
        errors.at(c, "#[instrument_event] cannot go on a `const fn`: recording telemetry is not a compile-time operation");
    }
    if let ReturnType::Type(_, ty) = &func.sig.output
        && let Type::Never(never) = &**ty
    {
        errors.at(
            never,
            "#[instrument_event] cannot go on a function that never returns (`-> !`): its call has no end to measure; instrument the functions it calls, or return a value",
        );
    }
    if let Some(attr) = func
        .attrs
        .iter()
        .find(|a| a.path().is_ident("track_caller"))
    {
        errors.at(
            attr,
            "#[instrument_event] cannot keep #[track_caller]: the body runs inside the instrumentation, so `Location::caller()` would name it; take the caller's location as an argument (`#[track_caller]` on a thin wrapper that passes `Location::caller()` in), or leave the function uninstrumented",
        );
    }
    let krate = common::krate(parsed.krate.clone());
    // Arguments by name.
    let mut arg_names: Vec<&Ident> = Vec::new();
    for input in &func.sig.inputs {
        match input {
            FnArg::Receiver(_) => {}
            FnArg::Typed(pt) => {
                if let Pat::Ident(pi) = &*pt.pat {
                    arg_names.push(&pi.ident);
                }
            }
        }
    }
    for (f, _) in &parsed.fields {
        if f == "self" {
            errors.at(
                f,
                "`self` cannot be recorded: list the arguments to record, each with its class",
            );
        } else if !arg_names.contains(&f) {
            errors.at(
                f,
                format!(
                    "`{f}` is not an argument of this function{}",
                    hint(&arg_names)
                ),
            );
        }
    }
    if let Some(s) = &parsed.subject
        && !arg_names.contains(&s)
    {
        errors.at(
            s,
            format!(
                "`{s}` is not an argument of this function{}",
                hint(&arg_names)
            ),
        );
    }
    let category = common::category_or(
        parsed.category.as_ref(),
        &krate,
        quote!(#krate::__private::Category::PERFORMANCE),
        &mut errors,
    );
    if !errors.is_empty() {
        let errs = errors.into_compile_errors();
        // Keep the function itself so its callers still compile.
        return quote!(#errs #func);
    }
    let name = parsed
        .name
        .as_ref()
        .map_or_else(|| func.sig.ident.unraw().to_string(), LitStr::value);
    let description = common::doc(&func.attrs);
    // A static inside the function cannot name `Self` or the generics of an
    // enclosing impl, so argument types are described from their syntax.
    let field_schemas: Vec<TokenStream> = parsed
        .fields
        .iter()
        .map(|(ident, class)| {
            let ty = func.sig.inputs.iter().find_map(|i| match i {
                FnArg::Typed(pt) => match &*pt.pat {
                    Pat::Ident(pi) if pi.ident == *ident => Some(&*pt.ty),
                    _ => None,
                },
                _ => None,
            });
            let field_type = common::field_type(ty, &krate);
            let fname = ident.unraw().to_string();
            let class_tokens = class.tokens(&krate);
            quote!(#krate::__private::FieldSchema { name: #fname, ty: #field_type, class: #class_tokens })
        })
        .collect();
    let records_errors = parsed.err.is_some();
    let records_backtrace = parsed.backtrace;
    let records_message = match parsed.err {
        Some(Some(c)) => {
            let c = c.tokens(&krate);
            quote!(::core::option::Option::Some(#c))
        }
        _ => quote!(::core::option::Option::None),
    };
    let records_return = match parsed.ret {
        Some(c) => {
            let c = c.tokens(&krate);
            quote!(::core::option::Option::Some(#c))
        }
        None => quote!(::core::option::Option::None),
    };
    let objective = match &parsed.objective {
        Some(o) => {
            let opt = |v: Option<f64>| match v {
                Some(v) => quote!(::core::option::Option::Some(#v)),
                None => quote!(::core::option::Option::None),
            };
            let (success, latency_ms, percentile) =
                (opt(o.success), opt(o.latency_ms), opt(o.latency_percentile));
            quote!(::core::option::Option::Some(#krate::__private::Objective {
                success: #success,
                latency_ms: #latency_ms,
                latency_percentile: #percentile,
            }))
        }
        None => quote!(::core::option::Option::None),
    };
    let subject_name = match &parsed.subject {
        Some(s) => {
            let s = s.unraw().to_string();
            quote!(::core::option::Option::Some(#s))
        }
        None => quote!(::core::option::Option::None),
    };
    let enter = match &parsed.subject {
        Some(s) => quote! {
            #krate::__private::with_subject_id(&#s, |__telemetry_id| {
                __TELEMETRY_CALLSITE.enter(#category, ::core::option::Option::Some(__telemetry_id))
            })
        },
        None => quote!(__TELEMETRY_CALLSITE.enter(#category, ::core::option::Option::None)),
    };
    let record_fields = parsed
        .fields
        .iter()
        .enumerate()
        .map(|(i, (ident, class))| match class {
            // A redacted argument is never read.
            Class::Redact => quote!(__telemetry_call.redacted(#i);),
            Class::Skip => quote!(),
            // Only the argument carries its own span (for errors about its
            // type): the generated names keep the macro's, so that they
            // resolve when the argument comes from a `macro_rules!`
            // expansion with hygiene of its own.
            _ => {
                let arg = quote::quote_spanned!(ident.span()=> &#ident);
                quote!(__telemetry_call.field(#i, #arg);)
            }
        });
    let record_fields = quote! {
        if let ::core::option::Option::Some(__telemetry_call) = &mut __telemetry_call
            && __telemetry_call.is_recording()
        {
            #(#record_fields)*
        }
    };
    let on_result = {
        let err_span = parsed.err_span.unwrap_or_else(Span::call_site);
        let assert_result = quote::quote_spanned!(err_span=> #krate::__private::assert_result(&__telemetry_result););
        let err = match parsed.err {
            Some(Some(c)) => {
                let c = c.tokens(&krate);
                quote! {
                    #assert_result
                    __telemetry_call.error_with_message(#c, &__telemetry_result);
                }
            }
            Some(None) => quote! {
                #assert_result
                __telemetry_call.error(&__telemetry_result);
            },
            None => quote!(),
        };
        let ret = match parsed.ret {
            Some(c) => {
                let c = c.tokens(&krate);
                quote!(__telemetry_call.ret(#c, &__telemetry_result);)
            }
            None => quote!(),
        };
        quote! {
            #err
            #ret
            let __telemetry_outcome = {
                #[allow(unused_imports)]
                use #krate::__private::{OutcomeOfAny as _, OutcomeOfResult as _};
                (&__telemetry_result).__telemetry_outcome()
            };
            __telemetry_call.finish(__telemetry_outcome);
        }
    };
    let prelude = quote! {
        static __TELEMETRY_SCHEMA: #krate::__private::FunctionSchema = #krate::__private::FunctionSchema {
            name: #name,
            category: #category,
            description: #description,
            fields: &[#(#field_schemas),*],
            records_errors: #records_errors,
            records_error_message: #records_message,
            records_backtrace: #records_backtrace,
            records_return: #records_return,
            subject: #subject_name,
            objective: #objective,
        };
        static __TELEMETRY_CALLSITE: #krate::__private::Callsite = #krate::__private::Callsite::new(&__TELEMETRY_SCHEMA, ::core::module_path!());
        #krate::__private::inventory::submit! {
            #krate::__private::CatalogueItem::Function {
                schema: &__TELEMETRY_SCHEMA,
                source: #krate::__private::SourceLocation {
                    module: ::core::module_path!(),
                    file: ::core::file!(),
                    line: ::core::line!(),
                },
            }
        }
        // Consent (and the sampler) first; arguments are read only for a
        // recorded span.
        #[allow(unused_mut)]
        let mut __telemetry_call = #enter;
        #record_fields
    };
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = &func;
    let output_ty = match &sig.output {
        ReturnType::Type(_, ty) => Some(&**ty),
        ReturnType::Default => None,
    };
    // Await `__telemetry_future`, inside the call's span when there is a call.
    let await_instrumented = quote! {
            // By reference: the call stays where it is (no move of it).
            match &mut __telemetry_call {
                ::core::option::Option::None => __telemetry_future.await,
                ::core::option::Option::Some(__telemetry_call) => {
                    // A plain `tracing` span for other layers (feature
                    // `tracing` of the runtime crate; nothing without it).
                    let __telemetry_future = #krate::__private::mirror_instrument(
                        __telemetry_future,
                        #krate::__private::mirror_span!(#name),
                    );
                    let __telemetry_result = __telemetry_call.instrument(__telemetry_future).await;
                    #on_result
                    __telemetry_result
                }
            }
    };
    let body = if let Some((leading, pin, inner)) = boxed_async_body(&func) {
        // The shape `#[async_trait]` gives an `async fn`: a body that
        // returns `Box::pin(async move { .. })`. The call is the inner
        // future, so it is instrumented (the call starts at its first poll).
        quote! {
            #(#leading)*
            #pin(async move {
                #prelude
                let __telemetry_future = #inner;
                #await_instrumented
            })
        }
    } else if sig.asyncness.is_some() {
        // async fn: the body becomes an async block run inside the call's
        // span; a fake return edge keeps inference on the declared type.
        let fake_return = match output_ty {
            Some(ty) if nameable(ty) => quote! {
                #[allow(unreachable_code, clippy::diverging_sub_expression)]
                if false {
                    let __telemetry_fake_return: #ty = loop {};
                    return __telemetry_fake_return;
                }
            },
            None => quote!(),
            _ => quote!(),
        };
        // The body's statements go into the async block itself: a block
        // in tail position there (a one-line body) would trip
        // `unused_braces`.
        let stmts = &block.stmts;
        let future = quote!(async move { #fake_return #(#stmts)* });
        quote! {
            #prelude
            let __telemetry_future = #future;
            #await_instrumented
        }
    } else if returns_impl_future(&sig.output) {
        // fn -> impl Future: instrument the returned future; the call ends
        // when it completes.
        quote! {
            #prelude
            #[allow(clippy::redundant_closure_call)]
            let __telemetry_future = (move || #block)();
            async move {
                #await_instrumented
            }
        }
    } else {
        let closure = match output_ty {
            Some(ty) if nameable(ty) => quote!(move || -> #ty #block),
            None => quote!(move || -> () #block),
            _ => quote!(move || #block),
        };
        quote! {
            #prelude
            #[allow(clippy::redundant_closure_call, unused_mut)]
            let mut __telemetry_body = #krate::__private::once(#closure);
            // Denied: a check and a branch, then the function as written
            // (the empty call is forgotten, so no drop is called for it).
            if __telemetry_call.is_none() {
                ::core::mem::forget(__telemetry_call);
                __telemetry_body()
            } else {
            // By reference: the call stays where it is (no move of it).
            match &mut __telemetry_call {
                ::core::option::Option::None => __telemetry_body(),
                ::core::option::Option::Some(__telemetry_call) => {
                    // A plain `tracing` span for other layers (feature
                    // `tracing` of the runtime crate; nothing without it).
                    let __telemetry_mirror = #krate::__private::mirror_span!(#name);
                    let __telemetry_mirror_entered = #krate::__private::mirror_enter(&__telemetry_mirror);
                    let __telemetry_entered = __telemetry_call.enter();
                    let __telemetry_result = __telemetry_body();
                    ::core::mem::drop(__telemetry_entered);
                    #on_result
                    __telemetry_result
                }
            }
            }
        }
    };
    quote! {
        #(#attrs)*
        #vis #sig {
            #body
        }
    }
}

/// For a function that is not `async` but whose body ends in
/// `Box::pin(async move { .. })` (what `#[async_trait]` makes of an `async
/// fn`): the statements before it, the `Box::pin` path, and the async block.
fn boxed_async_body(func: &ItemFn) -> Option<(&[syn::Stmt], &Expr, &syn::ExprAsync)> {
    if func.sig.asyncness.is_some() {
        return None;
    }
    let (last, leading) = func.block.stmts.split_last()?;
    let syn::Stmt::Expr(Expr::Call(call), None) = last else {
        return None;
    };
    let Expr::Path(path) = &*call.func else {
        return None;
    };
    let mut segments = path.path.segments.iter().rev();
    let is_box_pin = segments.next().is_some_and(|s| s.ident == "pin")
        && segments.next().is_some_and(|s| s.ident == "Box");
    if !is_box_pin || call.args.len() != 1 {
        return None;
    }
    match call.args.first() {
        Some(Expr::Async(inner)) if inner.capture.is_some() => Some((leading, &call.func, inner)),
        _ => None,
    }
}

fn hint(args: &[&Ident]) -> String {
    if args.is_empty() {
        "; it has no named arguments".to_owned()
    } else {
        format!(
            "; its arguments are: {}",
            args.iter()
                .map(|a| format!("`{a}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiled_out_the_function_is_left_exactly_as_written() {
        let item = quote! {
            /// Doc.
            async fn place_order(customer: &str, total: u64) -> Result<u64, Error> {
                Ok(total)
            }
        };
        let args = quote!(
            name = "checkout.place_order",
            fields(customer = hash, total),
            err
        );
        let out = expand_if(false, args.clone(), item.clone());
        assert_eq!(
            out.to_string(),
            item.to_string(),
            "no generated code at all"
        );
        let block = quote!(impl Document { #[instrument_event] fn get(&self) {} });
        assert_eq!(
            expand_if(false, TokenStream::new(), block.clone()).to_string(),
            block.to_string()
        );
        // Compiled in, the same function gets its callsite and span.
        let on = expand_if(true, args, item).to_string();
        assert!(on.contains("__TELEMETRY_CALLSITE"), "{on}");
    }
}
