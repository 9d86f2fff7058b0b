//! Property tests: for random subjects, consent choices, categories and
//! events, no record of a denied category reaches an exporter, and no raw
//! value of a hashed, redacted or dropped field appears in exported bytes or
//! `Debug` output.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::HashMap;

use crate::common::*;
use proptest::prelude::*;
use telemetry_core::export::*;
use telemetry_core::testing::InMemoryExporter;
use telemetry_core::*;

const CATS: [Category; 4] = [
    Category::BUSINESS,
    Category::INTERACTION,
    Category::PERFORMANCE,
    Category::ERRORS,
];

fn category() -> impl Strategy<Value = Category> {
    prop::sample::select(CATS.to_vec())
}

#[derive(Debug, Clone)]
enum Op {
    Grant(usize, Category),
    Revoke(usize, Category),
    Emit(usize, Category, u64),
}

fn op(subjects: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..subjects, category()).prop_map(|(s, c)| Op::Grant(s, c)),
        (0..subjects, category()).prop_map(|(s, c)| Op::Revoke(s, c)),
        (0..subjects, category(), any::<u64>()).prop_map(|(s, c, n)| Op::Emit(s, c, n)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn no_record_of_a_denied_category_is_exported(
        subjects in prop::collection::vec("[a-z]{1,8}-[0-9]{1,6}", 1..5),
        ops in prop::collection::vec(op(5), 1..60),
        opt_out in any::<bool>(),
    ) {
        let policy = if opt_out { ConsentPolicy::opt_out() } else { ConsentPolicy::opt_in() }
            .require(Category::BUSINESS)
            .require(Category::INTERACTION)
            .exempt(Category::ERRORS);
        let exp = InMemoryExporter::new();
        let t = builder().consent(policy).exporter(exp.clone()).build().unwrap();
        // Model: the allowed state of each (subject, category) per emitted
        // record, and which subjects granted the exempt category explicitly
        // (only their records of it identify them).
        let mut allowed: HashMap<(usize, Category), bool> = HashMap::new();
        let mut granted_exempt: HashMap<usize, bool> = HashMap::new();
        let default = |c: Category| c == Category::ERRORS || opt_out;
        let mut expected = Vec::new();
        for op in &ops {
            match *op {
                Op::Grant(s, c) => {
                    let s = s % subjects.len();
                    t.consent().grant(&subjects[s], c).unwrap();
                    allowed.insert((s, c), true);
                    if c == Category::ERRORS {
                        granted_exempt.insert(s, true);
                    }
                }
                Op::Revoke(s, c) => {
                    let s = s % subjects.len();
                    t.consent().revoke(&subjects[s], c).unwrap();
                    allowed.insert((s, c), c == Category::ERRORS);
                    if c == Category::ERRORS {
                        granted_exempt.insert(s, false);
                    }
                    // A revocation purges what the subject emitted before in `c`.
                    expected.retain(|(es, ec, _)| !(*es == Some(s) && *ec == c && c != Category::ERRORS));
                }
                Op::Emit(s, c, n) => {
                    let s = s % subjects.len();
                    let _scope = t.subject(&subjects[s]);
                    t.event("prop.event", c).public("n", n).hashed("h", n).emit();
                    if *allowed.get(&(s, c)).unwrap_or(&default(c)) {
                        let identified = c != Category::ERRORS
                            || *granted_exempt.get(&s).unwrap_or(&false);
                        expected.push((identified.then_some(s), c, n));
                    }
                }
            }
        }
        t.force_flush().unwrap();
        let keys: Vec<SubjectKey> = subjects.iter().map(|s| t.consent().subject_key(s)).collect();
        let mut got: Vec<(Option<usize>, Category, u64)> = Vec::new();
        for l in exp.events_named("prop.event") {
            let s = l.subject.map(|k| keys.iter().position(|key| *key == k).unwrap());
            let Some(AttrValue::U64(n)) = attr(&l, "n") else { panic!() };
            // Exempt means anonymous: no subject key and no hashed value.
            let hashed = matches!(attr(&l, "h"), Some(AttrValue::Hashed(_)));
            prop_assert_eq!(hashed, s.is_some(), "{:?}", l);
            got.push((s, l.category, *n));
        }
        // Subjects may share a key only if their ids are equal; normalise.
        let canon = |s: Option<usize>| s.map(|s| keys.iter().position(|k| *k == keys[s]).unwrap());
        let mut expected: Vec<_> = expected.into_iter().map(|(s, c, n)| (canon(s), c, n)).collect();
        got.sort_by_key(|(s, c, n)| (*s, c.bit(), *n));
        expected.sort_by_key(|(s, c, n)| (*s, c.bit(), *n));
        prop_assert_eq!(got, expected);
        t.shutdown(std::time::Duration::from_secs(5));
    }

    #[test]
    fn raw_values_of_protected_fields_never_leave_the_process(
        email in "RAWEMAIL[a-z0-9]{6,20}",
        card in "RAWCARD[0-9]{4,12}",
        note in "RAWNOTE[a-zA-Z ]{4,30}",
        secret in "RAWSECRET[a-z]{4,12}",
        currency in "[A-Z]{3}",
        amount in any::<u64>(),
    ) {
        let (t, exp) = setup();
        t.consent().grant("subject", Category::BUSINESS).unwrap();
        {
            let _s = t.subject("subject");
            let event = Purchase { customer: None, email: &email, amount_cents: amount, currency: &currency, card_last4: &card, note: &note };
            t.emit(&event);
            t.event("adhoc", Category::BUSINESS).hashed("email", email.as_str()).redacted("card").public("currency", currency.as_str()).emit();
            t.in_span("span", Category::PERFORMANCE, |s| {
                s.record("email", FieldClass::Hashed, email.as_str());
                s.record("secret", FieldClass::Dropped, secret.as_str());
                s.record("card", FieldClass::Redacted, card.as_str());
            });
        }
        t.force_flush().unwrap();
        let json = exp.exported_json();
        let debug = format!("{:?} {:?} {:?}", exp.logs(), exp.spans(), exp.metrics());
        for raw in [&email, &card, &note, &secret] {
            prop_assert!(!json.contains(raw.as_str()), "{} in exported bytes", raw);
            prop_assert!(!debug.contains(raw.as_str()), "{} in Debug output", raw);
        }
        // Public values do arrive (the test can see what it looks for).
        prop_assert!(json.contains(&currency));
        prop_assert!(json.contains(&amount.to_string()));
        prop_assert_eq!(exp.events_named("checkout.purchase_completed").len(), 1);
    }
}
