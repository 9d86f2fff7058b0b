//! Sequences and maps as field values: OTLP arrays and key-value lists.
//!
//! A `Vec`, array or [`Seq`] (a slice) of recordable values (except of `u8`, which are
//! bytes) is a list; a `BTreeMap` or `HashMap` with text keys is a map.
//! Both are handed over borrowed, as [`Value::List`], and owned only for
//! a record that is kept: at most [`MAX_LIST_LEN`] elements, each string
//! cut at the string limit, and the cut counted like any other.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::{Duration, SystemTime};

use super::{AttrValue, FieldType, TelemetryValue, Value, own_public};

/// Elements of a list or map kept in a record; the rest are cut (and the
/// cut counted under cause `limits`).
pub const MAX_LIST_LEN: usize = 128;

/// A sequence or map recorded as one field (see the module docs).
pub trait ValueList {
    /// Whether the elements have keys (a map).
    fn is_map(&self) -> bool;
    /// Number of elements.
    fn len(&self) -> usize;
    /// Whether there is no element.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Calls `f` with each element in order (a map's with its key), until
    /// `f` returns `false`.
    fn each(&self, f: &mut dyn FnMut(Option<&str>, Value<'_>) -> bool);
}

/// A borrowed list or map. Its `Debug` output shows the number of elements
/// only, never their values.
#[derive(Copy, Clone)]
pub struct ListRef<'a>(pub &'a dyn ValueList);

impl fmt::Debug for ListRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.0.is_map() { "Map" } else { "List" };
        write!(f, "{kind}({} elements)", self.0.len())
    }
}

impl PartialEq for ListRef<'_> {
    /// The same list (by address): values are compared where they are
    /// owned, as [`AttrValue`]s.
    fn eq(&self, other: &Self) -> bool {
        std::ptr::addr_eq(self.0, other.0)
    }
}

/// An element type of a recordable list: every [`TelemetryValue`] of this
/// crate but `u8` (a sequence of bytes is [`Value::Bytes`]). Implement it
/// for a type of your own that implements `TelemetryValue` to record
/// sequences of it.
pub trait ListElement: TelemetryValue {}

macro_rules! list_elements {
    ($($t:ty),* $(,)?) => {$( impl ListElement for $t {} )*};
}
list_elements!(
    bool, i8, i16, i32, i64, i128, isize, u16, u32, u64, u128, usize, f32, f64, char, String,
    Duration, SystemTime,
);
impl ListElement for &str {}
impl ListElement for Cow<'_, str> {}
impl<T: ListElement> ListElement for Option<T> {}
impl<T: ListElement> ListElement for Vec<T> {}

/// A list's elements, in order, until `f` says stop.
fn each_of<T: ListElement>(items: &[T], f: &mut dyn FnMut(Option<&str>, Value<'_>) -> bool) {
    for v in items {
        if !f(None, v.to_value()) {
            return;
        }
    }
}

impl<T: ListElement> ValueList for Vec<T> {
    fn is_map(&self) -> bool {
        false
    }
    fn len(&self) -> usize {
        Vec::len(self)
    }
    fn each(&self, f: &mut dyn FnMut(Option<&str>, Value<'_>) -> bool) {
        each_of(self, f);
    }
}

impl<T: ListElement, const N: usize> ValueList for [T; N] {
    fn is_map(&self) -> bool {
        false
    }
    fn len(&self) -> usize {
        N
    }
    fn each(&self, f: &mut dyn FnMut(Option<&str>, Value<'_>) -> bool) {
        each_of(self, f);
    }
}

/// A borrowed slice recorded as a list: `fields(ids)` with `ids: &[u64]`
/// needs it (`Seq(ids)`), because a slice has no size of its own to be
/// handed over as one value; a `Vec` or an array needs no wrapper.
#[derive(Copy, Clone, Debug)]
pub struct Seq<'a, T>(pub &'a [T]);

impl<T: ListElement> ValueList for Seq<'_, T> {
    fn is_map(&self) -> bool {
        false
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn each(&self, f: &mut dyn FnMut(Option<&str>, Value<'_>) -> bool) {
        each_of(self.0, f);
    }
}

macro_rules! list_value {
    ($($ty:ty $(, const $n:ident)?);*) => {$(
        impl<T: ListElement $(, const $n: usize)?> TelemetryValue for $ty {
            const TYPE: FieldType = FieldType::List;
            fn to_value(&self) -> Value<'_> {
                Value::List(ListRef(self))
            }
        }
    )*};
}
list_value!(Vec<T>; [T; N], const N; Seq<'_, T>);

macro_rules! map_value {
    ($map:ident $(, $s:ident)?) => {
        impl<K: AsRef<str>, V: TelemetryValue $(, $s)?> ValueList for $map<K, V $(, $s)?> {
            fn is_map(&self) -> bool {
                true
            }
            fn len(&self) -> usize {
                $map::len(self)
            }
            fn each(&self, f: &mut dyn FnMut(Option<&str>, Value<'_>) -> bool) {
                for (k, v) in self {
                    if !f(Some(k.as_ref()), v.to_value()) {
                        return;
                    }
                }
            }
        }

        impl<K: AsRef<str>, V: TelemetryValue $(, $s)?> TelemetryValue for $map<K, V $(, $s)?> {
            const TYPE: FieldType = FieldType::Map;
            fn to_value(&self) -> Value<'_> {
                Value::List(ListRef(self))
            }
        }
    };
}
map_value!(BTreeMap);
map_value!(HashMap, S);

/// The owned form of a list or map for a public field: at most
/// [`MAX_LIST_LEN`] elements (absent ones left out), strings cut at
/// `max_len`. The flag says whether anything was cut.
pub(crate) fn own_list(list: ListRef<'_>, max_len: usize) -> (AttrValue, bool) {
    let mut cut = list.0.len() > MAX_LIST_LEN;
    let map = list.0.is_map();
    let mut items: Vec<AttrValue> = Vec::new();
    let mut pairs: Vec<(Cow<'static, str>, AttrValue)> = Vec::new();
    let mut n = 0;
    list.0.each(&mut |key, value| {
        n += 1;
        if n > MAX_LIST_LEN {
            return false;
        }
        let Some((owned, c)) = own_public(value, max_len) else {
            return true;
        };
        cut |= c;
        match key {
            Some(k) => {
                let (k, c) = super::truncate(k, max_len);
                cut |= c;
                pairs.push((Cow::Owned(k), owned));
            }
            None => items.push(owned),
        }
        true
    });
    if map {
        (AttrValue::Map(pairs), cut)
    } else {
        (AttrValue::Array(items), cut)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_maps_are_owned_within_the_limits() {
        let tags = vec!["a".to_owned(), "b".repeat(20)];
        let (owned, cut) = own_list(
            match tags.to_value() {
                Value::List(l) => l,
                other => panic!("{other:?}"),
            },
            8,
        );
        assert!(cut);
        let AttrValue::Array(items) = owned else {
            panic!()
        };
        assert_eq!(items[0], AttrValue::from("a"));
        assert!(items[1].render().ends_with(super::super::TRUNCATED));
        let long: Vec<u32> = (0..1000).collect();
        let Value::List(l) = long.to_value() else {
            panic!()
        };
        let (AttrValue::Array(items), cut) = own_list(l, 64) else {
            panic!()
        };
        assert!(cut);
        assert_eq!(items.len(), MAX_LIST_LEN);
        let mut m = BTreeMap::new();
        m.insert("plan", 3u64);
        m.insert("seats", 10u64);
        let Value::List(l) = m.to_value() else {
            panic!()
        };
        let (AttrValue::Map(pairs), cut) = own_list(l, 64) else {
            panic!()
        };
        assert!(!cut);
        assert_eq!(pairs[0], (Cow::Borrowed("plan"), AttrValue::U64(3)));
        assert_eq!(<Vec<String> as TelemetryValue>::TYPE, FieldType::List);
        assert_eq!(
            <HashMap<String, i64> as TelemetryValue>::TYPE,
            FieldType::Map
        );
        assert_eq!(
            <Vec<u8> as TelemetryValue>::TYPE,
            FieldType::String,
            "bytes stay bytes"
        );
        assert_eq!(format!("{:?}", m.to_value()), "List(Map(2 elements))");
    }
}
