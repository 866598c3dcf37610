//! The checks upstream's `rdbLoadObject` makes of a value stored as one encoded blob (an
//! intset, or a set, zset or hash listpack) when the RDB is loaded without deep
//! sanitization (`sanitize-dump-payload` not `yes`), and the count of entries it goes on
//! to compare with the `*-max-*-entries` settings.
//!
//! Without deep sanitization upstream checks only a blob's header (`intsetValidateIntegrity`
//! and `lpValidateIntegrity` with `deep` 0) and then reads the count in it; so do these
//! functions, and they answer None wherever upstream would refuse the blob, find it empty,
//! or count its entries by walking them (a listpack whose header says 65535 or more):
//! the loader's reading thread builds a value off the main thread only where every step
//! of upstream's is a read of the header it has checked here.

use crate::rdb_scan::{TYPE_HASH_LISTPACK, TYPE_SET_INTSET, TYPE_SET_LISTPACK, TYPE_ZSET_LISTPACK};

/// How a value type's blob is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlobKind {
    /// `intset.c`'s layout: encoding, length, records.
    Intset,
    /// A listpack of entries in tuples of `tuple` elements (a set's members one by one,
    /// a zset's and a hash's in pairs).
    Listpack { tuple: u64 },
}

/// The blob layout of `value_type`, for the types whose value this module checks.
pub fn kind_of(value_type: u8) -> Option<BlobKind> {
    match value_type {
        TYPE_SET_INTSET => Some(BlobKind::Intset),
        TYPE_SET_LISTPACK => Some(BlobKind::Listpack { tuple: 1 }),
        TYPE_ZSET_LISTPACK | TYPE_HASH_LISTPACK => Some(BlobKind::Listpack { tuple: 2 }),
        _ => None,
    }
}

/// `LP_HDR_SIZE`: total bytes (32 bits) and element count (16 bits).
const LP_HDR_SIZE: usize = 6;
/// `LP_HDR_NUMELE_UNKNOWN`: a count too large for the header, found by walking.
const LP_HDR_NUMELE_UNKNOWN: u64 = 65535;
/// `LP_EOF`.
const LP_EOF: u8 = 0xff;

/// The entries upstream counts in `blob` (an intset's records; a listpack's elements
/// divided by the tuple, as `setTypeSize`, `zsetLength` and `hashTypeLength` count them):
/// None when upstream's header checks refuse it, when it is empty (upstream skips the
/// key), when a listpack's count needs a walk, or when its elements are not whole tuples.
pub fn entries(kind: BlobKind, blob: &[u8]) -> Option<u64> {
    match kind {
        BlobKind::Intset => {
            // intsetValidateIntegrity without `deep`: the header, an encoding of 2, 4 or 8
            // bytes a record, exactly the records the length says, at least one.
            let encoding = u32::from_le_bytes(blob.get(0..4)?.try_into().ok()?) as usize;
            let count = u32::from_le_bytes(blob.get(4..8)?.try_into().ok()?) as usize;
            let records = matches!(encoding, 2 | 4 | 8).then_some(count.checked_mul(encoding)?)?;
            (8usize.checked_add(records)? == blob.len() && count > 0).then_some(count as u64)
        }
        BlobKind::Listpack { tuple } => {
            // lpValidateIntegrity without `deep`: room for the header and the EOF byte,
            // the total the header states, the EOF byte last.
            if blob.len() < LP_HDR_SIZE + 1 || blob.last() != Some(&LP_EOF) {
                return None;
            }
            let total = u32::from_le_bytes(blob[0..4].try_into().ok()?) as usize;
            let count = u16::from_le_bytes(blob[4..6].try_into().ok()?) as u64;
            let whole = total == blob.len() && count != LP_HDR_NUMELE_UNKNOWN;
            (whole && count > 0 && count.is_multiple_of(tuple)).then_some(count / tuple)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xorshift::Xorshift as Rng;

    fn listpack(count: u16, entries: &[u8]) -> Vec<u8> {
        let total = (LP_HDR_SIZE + entries.len() + 1) as u32;
        let mut lp = total.to_le_bytes().to_vec();
        lp.extend_from_slice(&count.to_le_bytes());
        lp.extend_from_slice(entries);
        lp.push(LP_EOF);
        lp
    }

    fn intset(encoding: u32, count: u32, records: usize) -> Vec<u8> {
        let mut is = encoding.to_le_bytes().to_vec();
        is.extend_from_slice(&count.to_le_bytes());
        is.extend(std::iter::repeat_n(7u8, records));
        is
    }

    #[test]
    fn kinds_follow_the_value_types() {
        assert_eq!(kind_of(TYPE_SET_INTSET), Some(BlobKind::Intset));
        assert_eq!(
            kind_of(TYPE_SET_LISTPACK),
            Some(BlobKind::Listpack { tuple: 1 })
        );
        assert_eq!(
            kind_of(TYPE_ZSET_LISTPACK),
            Some(BlobKind::Listpack { tuple: 2 })
        );
        assert_eq!(
            kind_of(TYPE_HASH_LISTPACK),
            Some(BlobKind::Listpack { tuple: 2 })
        );
        for other in [
            0u8, 1, 2, 3, 4, 5, 7, 9, 10, 12, 13, 14, 15, 18, 19, 21, 22, 23, 24, 25, 26,
        ] {
            assert_eq!(kind_of(other), None, "type {other}");
        }
    }

    #[test]
    fn an_intset_counts_when_its_header_holds_upstreams_checks() {
        let kind = BlobKind::Intset;
        assert_eq!(entries(kind, &intset(2, 3, 6)), Some(3));
        assert_eq!(entries(kind, &intset(4, 1, 4)), Some(1));
        assert_eq!(entries(kind, &intset(8, 2, 16)), Some(2));
        assert_eq!(entries(kind, &intset(2, 3, 5)), None, "a record short");
        assert_eq!(entries(kind, &intset(2, 3, 7)), None, "a byte more");
        assert_eq!(entries(kind, &intset(3, 1, 3)), None, "no such encoding");
        assert_eq!(entries(kind, &intset(2, 0, 0)), None, "empty");
        assert_eq!(
            entries(kind, &intset(8, u32::MAX, 0)),
            None,
            "a count past the end"
        );
        assert_eq!(entries(kind, &[2, 0, 0, 0, 1, 0]), None, "no whole header");
    }

    #[test]
    fn a_listpack_counts_when_its_header_holds_upstreams_checks() {
        let set = BlobKind::Listpack { tuple: 1 };
        let pairs = BlobKind::Listpack { tuple: 2 };
        let two = [0x01, 0x01, 0x02, 0x01];
        assert_eq!(entries(set, &listpack(2, &two)), Some(2));
        assert_eq!(entries(pairs, &listpack(2, &two)), Some(1));
        assert_eq!(entries(pairs, &listpack(3, &two)), None, "half a pair");
        assert_eq!(entries(set, &listpack(0, &[])), None, "empty");
        assert_eq!(
            entries(set, &listpack(65535, &two)),
            None,
            "a count to walk for"
        );
        let mut no_eof = listpack(2, &two);
        *no_eof.last_mut().unwrap() = 0;
        assert_eq!(entries(set, &no_eof), None);
        let mut wrong_total = listpack(2, &two);
        wrong_total[0] += 1;
        assert_eq!(entries(set, &wrong_total), None);
        assert_eq!(
            entries(set, &[7, 0, 0, 0, 0, 0]),
            None,
            "too short for a header"
        );
        assert_eq!(entries(set, &[]), None);
    }

    #[test]
    fn random_bytes_never_panic_and_a_count_is_always_the_headers() {
        let mut rng = Rng(0xb10b);
        for _ in 0..20000 {
            let mut blob = rng.bytes_below(40);
            if rng.below(2) == 0 && blob.len() >= 6 {
                let total = blob.len() as u32;
                blob[..4].copy_from_slice(&total.to_le_bytes());
                *blob.last_mut().unwrap() = LP_EOF;
            }
            for kind in [
                BlobKind::Intset,
                BlobKind::Listpack { tuple: 1 },
                BlobKind::Listpack { tuple: 2 },
            ] {
                if let Some(n) = entries(kind, &blob) {
                    assert!(n > 0);
                    let header =
                        u32::from_le_bytes(blob[4..8.min(blob.len())].try_into().unwrap_or([0; 4]));
                    match kind {
                        BlobKind::Intset => assert_eq!(n, header as u64),
                        BlobKind::Listpack { tuple } => {
                            assert_eq!(n * tuple, u16::from_le_bytes([blob[4], blob[5]]) as u64)
                        }
                    }
                }
            }
        }
    }
}
