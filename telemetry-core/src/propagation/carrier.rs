//! Carriers: where propagation fields are read from and written to. Field
//! names are matched without regard to ASCII case, as HTTP header names are.

use std::collections::{BTreeMap, HashMap};

/// Reads propagation fields from an incoming carrier.
pub trait Extractor {
    /// Every value of field `name`, in order: `None` for a value that is not
    /// text (it is then treated as malformed). Empty when the field is
    /// absent.
    fn get_all(&self, name: &str) -> Vec<Option<&str>>;
}

/// Writes propagation fields into an outgoing carrier (and reads what is
/// already there, to keep other baggage members).
pub trait Injector: Extractor {
    /// Sets field `name` to `value`, replacing any earlier values. The
    /// values this library writes are always visible ASCII.
    fn set(&mut self, name: &str, value: &str);
    /// Removes field `name`.
    fn remove(&mut self, name: &str);
}

impl<E: Extractor + ?Sized> Extractor for &E {
    fn get_all(&self, name: &str) -> Vec<Option<&str>> {
        (**self).get_all(name)
    }
}

impl<E: Extractor + ?Sized> Extractor for &mut E {
    fn get_all(&self, name: &str) -> Vec<Option<&str>> {
        (**self).get_all(name)
    }
}

impl<I: Injector + ?Sized> Injector for &mut I {
    fn set(&mut self, name: &str, value: &str) {
        (**self).set(name, value)
    }
    fn remove(&mut self, name: &str) {
        (**self).remove(name)
    }
}

impl<S: std::hash::BuildHasher> Extractor for HashMap<String, String, S> {
    fn get_all(&self, name: &str) -> Vec<Option<&str>> {
        self.iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| Some(v.as_str()))
            .collect()
    }
}

impl<S: std::hash::BuildHasher> Injector for HashMap<String, String, S> {
    fn set(&mut self, name: &str, value: &str) {
        Injector::remove(self, name);
        self.insert(name.to_ascii_lowercase(), value.to_owned());
    }
    fn remove(&mut self, name: &str) {
        self.retain(|k, _| !k.eq_ignore_ascii_case(name));
    }
}

impl Extractor for BTreeMap<String, String> {
    fn get_all(&self, name: &str) -> Vec<Option<&str>> {
        self.iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| Some(v.as_str()))
            .collect()
    }
}

impl Injector for BTreeMap<String, String> {
    fn set(&mut self, name: &str, value: &str) {
        Injector::remove(self, name);
        self.insert(name.to_ascii_lowercase(), value.to_owned());
    }
    fn remove(&mut self, name: &str) {
        self.retain(|k, _| !k.eq_ignore_ascii_case(name));
    }
}

/// A list of name/value pairs, names repeated for several values (gRPC
/// metadata, message headers).
impl Extractor for Vec<(String, String)> {
    fn get_all(&self, name: &str) -> Vec<Option<&str>> {
        self.iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| Some(v.as_str()))
            .collect()
    }
}

impl Injector for Vec<(String, String)> {
    fn set(&mut self, name: &str, value: &str) {
        Injector::remove(self, name);
        self.push((name.to_ascii_lowercase(), value.to_owned()));
    }
    fn remove(&mut self, name: &str) {
        self.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_without_case_and_set_replaces() {
        let mut v: Vec<(String, String)> = vec![("TraceParent".into(), "a".into())];
        assert_eq!(v.get_all("traceparent"), vec![Some("a")]);
        v.set("traceparent", "b");
        assert_eq!(v.get_all("TRACEPARENT"), vec![Some("b")]);
        v.push(("baggage".into(), "x=1".into()));
        v.push(("Baggage".into(), "y=2".into()));
        assert_eq!(v.get_all("baggage"), vec![Some("x=1"), Some("y=2")]);
        let mut m: HashMap<String, String> = HashMap::new();
        m.set("Tracestate", "k=v");
        assert_eq!(m.get_all("tracestate"), vec![Some("k=v")]);
        Injector::remove(&mut m, "TRACESTATE");
        assert!(m.get_all("tracestate").is_empty());
    }
}
