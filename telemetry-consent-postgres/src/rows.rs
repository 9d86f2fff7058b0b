//! Rows to values and back: subject keys (16 bytes), category masks (a
//! `bigint` holding the 64 bits), change numbers. A row that does not
//! decode is reported, never a panic.

use telemetry_core::CategorySet;
use telemetry_core::consent::Choices;
use telemetry_core::consent::shared::ChangeId;
use telemetry_core::export::SubjectKey;

/// A category mask as PostgreSQL stores it (the same 64 bits).
pub(crate) fn mask_to_sql(set: CategorySet) -> i64 {
    set.bits() as i64
}

/// Choices from the stored masks. A category in both (which the store
/// never writes) counts as denied.
pub(crate) fn choices(granted: i64, denied: i64) -> Choices {
    let (granted, denied) = (granted as u64, denied as u64);
    Choices {
        granted: CategorySet::from_bits(granted & !denied),
        denied: CategorySet::from_bits(denied),
    }
}

/// A subject key from a `bytea`, if it has 16 bytes.
pub(crate) fn subject_key(bytes: &[u8]) -> Option<SubjectKey> {
    <[u8; 16]>::try_from(bytes).ok().map(SubjectKey)
}

/// A change number from a `bigint` (never negative in a sound store).
pub(crate) fn change_id(n: i64) -> Option<ChangeId> {
    u64::try_from(n).ok().map(ChangeId)
}

/// A change number as PostgreSQL stores it.
pub(crate) fn change_to_sql(change: ChangeId) -> i64 {
    i64::try_from(change.0).unwrap_or(i64::MAX)
}

/// The recorded choice for category `bit`: `granted`, `denied` or `none`.
pub(crate) fn choice_name(c: Choices, bit: u8) -> &'static str {
    let mask = 1u64.checked_shl(u32::from(bit)).unwrap_or(0);
    if c.denied.bits() & mask != 0 {
        "denied"
    } else if c.granted.bits() & mask != 0 {
        "granted"
    } else {
        "none"
    }
}

/// `old` after granting `grant` and denying `deny`.
pub(crate) fn applied(old: Choices, grant: CategorySet, deny: CategorySet) -> Choices {
    let (g, d) = (grant.bits(), deny.bits());
    Choices {
        granted: CategorySet::from_bits((old.granted.bits() | g) & !d),
        denied: CategorySet::from_bits((old.denied.bits() | d) & !g),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use telemetry_core::Category;

    #[test]
    fn masks_round_trip_all_64_bits() {
        for bits in [0u64, 1, u64::MAX, 1 << 63, 0x8000_0000_0000_0001] {
            let set = CategorySet::from_bits(bits);
            assert_eq!(choices(mask_to_sql(set), 0).granted.bits(), bits);
        }
    }

    #[test]
    fn bad_rows_do_not_decode() {
        assert!(subject_key(&[0; 15]).is_none());
        assert!(subject_key(&[0; 17]).is_none());
        assert!(subject_key(&[7; 16]).is_some());
        assert!(change_id(-1).is_none());
        let both = choices(0b11, 0b10);
        assert_eq!((both.granted.bits(), both.denied.bits()), (0b01, 0b10));
    }

    #[test]
    fn grants_and_denials_apply_to_the_stored_choices() {
        let b = CategorySet::from(Category::BUSINESS);
        let i = CategorySet::from(Category::INTERACTION);
        let start = Choices {
            granted: b,
            denied: CategorySet::EMPTY,
        };
        let after = applied(start, i, b);
        assert_eq!(after.granted, i);
        assert_eq!(after.denied, b);
        assert_eq!(choice_name(after, Category::BUSINESS.bit()), "denied");
        assert_eq!(choice_name(after, Category::INTERACTION.bit()), "granted");
        assert_eq!(choice_name(after, Category::ERRORS.bit()), "none");
    }
}
