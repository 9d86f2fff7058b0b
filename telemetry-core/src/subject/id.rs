//! The types a service uses as subject ids: text, or integers. An integer
//! id is its decimal digits, formatted on the stack (no allocation), so
//! `42` and `"42"` are the same subject with the same pseudonym.

use std::borrow::Cow;
use std::sync::Arc;

/// A subject id: what `#[telemetry(subject)]` fields and `subject = arg`
/// arguments may be. Implemented for strings and integers; implement it for
/// an id type of your own (a UUID newtype can hand out its text or its
/// `u128`).
///
/// ```
/// use telemetry_core::SubjectId;
///
/// struct AccountId(u64);
/// impl SubjectId for AccountId {
///     fn with_text<R>(&self, f: impl FnOnce(&str) -> R) -> R {
///         self.0.with_text(f)
///     }
/// }
/// assert_eq!(AccountId(42).with_text(|s| s.to_owned()), "42");
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a subject id: it does not implement `SubjectId`",
    note = "a subject id is text (`&str`, `String`) or an integer; for an id type of your own, implement `SubjectId` (hand out its text, or its integer's)"
)]
pub trait SubjectId {
    /// Calls `f` with the id's text.
    fn with_text<R>(&self, f: impl FnOnce(&str) -> R) -> R;

    /// The id's text, if it is stored as text (no formatting needed).
    fn as_text(&self) -> Option<&str> {
        None
    }
}

/// Ids stored as text.
macro_rules! text_id {
    ($($t:ty),*) => {$(
        impl SubjectId for $t {
            #[inline]
            fn with_text<R>(&self, f: impl FnOnce(&str) -> R) -> R {
                f(self)
            }
            #[inline]
            fn as_text(&self) -> Option<&str> {
                Some(self)
            }
        }
    )*};
}
text_id!(str, String, Cow<'_, str>);

/// References and smart pointers to an id.
macro_rules! pointer_id {
    ($($p:ident),*) => {$(
        impl<T: SubjectId + ?Sized> SubjectId for $p<T> {
            #[inline]
            fn with_text<R>(&self, f: impl FnOnce(&str) -> R) -> R {
                (**self).with_text(f)
            }
            #[inline]
            fn as_text(&self) -> Option<&str> {
                (**self).as_text()
            }
        }
    )*};
}
pointer_id!(Box, Arc);

impl<T: SubjectId + ?Sized> SubjectId for &T {
    #[inline]
    fn with_text<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        (**self).with_text(f)
    }
    #[inline]
    fn as_text(&self) -> Option<&str> {
        (**self).as_text()
    }
}

/// Decimal digits of `n` (with `-` if negative) at the end of `buf`.
fn decimal(negative: bool, mut n: u128, buf: &mut [u8; 40]) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        // `n % 10` is below 10.
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if negative {
        i -= 1;
        buf[i] = b'-';
    }
    // Only ASCII digits and `-` were written.
    std::str::from_utf8(&buf[i..]).unwrap_or("")
}

macro_rules! unsigned_id {
    ($($t:ty),*) => {$(
        impl SubjectId for $t {
            #[inline]
            fn with_text<R>(&self, f: impl FnOnce(&str) -> R) -> R {
                let mut buf = [0u8; 40];
                f(decimal(false, u128::from(*self), &mut buf))
            }
        }
    )*};
}
macro_rules! signed_id {
    ($($t:ty),*) => {$(
        impl SubjectId for $t {
            #[inline]
            fn with_text<R>(&self, f: impl FnOnce(&str) -> R) -> R {
                let mut buf = [0u8; 40];
                let v = i128::from(*self);
                f(decimal(v < 0, v.unsigned_abs(), &mut buf))
            }
        }
    )*};
}
unsigned_id!(u8, u16, u32, u64, u128);
signed_id!(i8, i16, i32, i64, i128);

impl SubjectId for usize {
    #[inline]
    fn with_text<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        (*self as u64).with_text(f)
    }
}

impl SubjectId for isize {
    #[inline]
    fn with_text<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        (*self as i64).with_text(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(id: &impl SubjectId) -> String {
        id.with_text(str::to_owned)
    }

    #[test]
    fn integers_are_their_decimal_digits() {
        assert_eq!(text(&0u8), "0");
        assert_eq!(text(&42u64), "42");
        assert_eq!(text(&-7i32), "-7");
        assert_eq!(text(&u128::MAX), u128::MAX.to_string());
        assert_eq!(text(&i128::MIN), i128::MIN.to_string());
        assert_eq!(text(&"alice"), "alice");
        assert_eq!(text(&String::from("bob")), "bob");
        assert_eq!(42u64.as_text(), None);
        assert_eq!("x".as_text(), Some("x"));
    }
}
