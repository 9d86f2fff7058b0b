//! [`Text`]: the string an attribute value holds.

use std::borrow::{Borrow, Cow};
use std::fmt;
use std::ops::Deref;

use compact_str::CompactString;

/// The string an attribute value holds: a `&'static str` as it is, a copy
/// kept inline when it is short (up to 24 bytes), on the heap when longer.
/// Capturing a short string therefore allocates nothing, and the export
/// worker frees nothing for it. It reads as a `&str` (`Deref`, `as_str`).
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Text(CompactString);

impl Text {
    /// A static string, kept by reference (or inline when short).
    pub const fn from_static(s: &'static str) -> Self {
        Text(CompactString::const_new(s))
    }

    /// A copy of `s`: inline up to 24 bytes, else on the heap.
    pub fn new(s: &str) -> Self {
        Text(CompactString::new(s))
    }

    /// Appends `s` where the text lies (inline while the whole fits in 24
    /// bytes).
    #[inline]
    pub(crate) fn push_str(&mut self, s: &str) {
        self.0.push_str(s);
    }

    /// The string.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl Deref for Text {
    type Target = str;

    fn deref(&self) -> &str {
        self.0.as_str()
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        self.0.as_str()
    }
}

impl Borrow<str> for Text {
    fn borrow(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&'static str> for Text {
    fn from(s: &'static str) -> Self {
        Text::from_static(s)
    }
}

impl From<String> for Text {
    fn from(s: String) -> Self {
        Text(CompactString::from(s))
    }
}

impl From<Cow<'static, str>> for Text {
    fn from(s: Cow<'static, str>) -> Self {
        match s {
            Cow::Borrowed(s) => Text::from_static(s),
            Cow::Owned(s) => Text::from(s),
        }
    }
}

impl From<Text> for String {
    fn from(t: Text) -> Self {
        t.0.into_string()
    }
}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Text {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<Text> for str {
    fn eq(&self, other: &Text) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Text> for &str {
    fn eq(&self, other: &Text) -> bool {
        *self == other.as_str()
    }
}

impl serde::Serialize for Text {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_copies_are_inline_and_static_strings_are_not_copied() {
        let short = Text::new("EUR");
        assert!(!short.0.is_heap_allocated(), "a short copy is inline");
        let long = "a string well past twenty-four bytes";
        let t = Text::from_static(long);
        assert_eq!(t.0.as_static_str(), Some(long), "kept by reference");
        assert!(Text::new(long).0.is_heap_allocated());
        assert_eq!(Text::from(String::from("x")), "x");
        assert_eq!(format!("{:?} {}", short, short), "\"EUR\" EUR");
    }
}
