use super::*;
use crate::xorshift::Xorshift as Rng;

/// A tiny RDB writer in `rdbSave*`'s encodings, for streams with known records.
#[derive(Default)]
struct Rdb(Vec<u8>);

impl Rdb {
    fn new() -> Rdb {
        let mut r = Rdb::default();
        r.0.extend_from_slice(b"REDIS0012");
        r
    }
    fn byte(&mut self, b: u8) -> &mut Self {
        self.0.push(b);
        self
    }
    fn len(&mut self, n: u64) -> &mut Self {
        if n < 64 {
            self.0.push(n as u8);
        } else if n < 16384 {
            self.0.push(0x40 | (n >> 8) as u8);
            self.0.push(n as u8);
        } else if n <= u32::MAX as u64 {
            self.0.push(0x80);
            self.0.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            self.0.push(0x81);
            self.0.extend_from_slice(&n.to_be_bytes());
        }
        self
    }
    fn string(&mut self, s: &[u8]) -> &mut Self {
        self.len(s.len() as u64);
        self.0.extend_from_slice(s);
        self
    }
    /// `rdbTryIntegerEncoding`'s forms.
    fn int_string(&mut self, v: i64) -> &mut Self {
        if let Ok(v) = i8::try_from(v) {
            self.0.push(0xc0);
            self.0.extend_from_slice(&v.to_le_bytes());
        } else if let Ok(v) = i16::try_from(v) {
            self.0.push(0xc1);
            self.0.extend_from_slice(&v.to_le_bytes());
        } else {
            self.0.push(0xc2);
            self.0.extend_from_slice(&(v as i32).to_le_bytes());
        }
        self
    }
    fn lzf_string(&mut self, compressed: &[u8], plain_len: usize) -> &mut Self {
        self.0.push(0xc3);
        self.len(compressed.len() as u64).len(plain_len as u64);
        self.0.extend_from_slice(compressed);
        self
    }
    fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        self.0.extend_from_slice(bytes);
        self
    }
}

fn keys_of(rdb: &[u8]) -> (Vec<(u64, u64, Vec<u8>)>, ScanEnd) {
    let whole = scan_all(rdb, vec![rdb.len().max(1)]);
    // Any block shape finds the same records.
    for sizes in [vec![1], vec![2, 3, 5], vec![7], vec![4096]] {
        assert_eq!(scan_all(rdb, sizes.clone()), whole, "blocks {sizes:?}");
    }
    whole
}

#[test]
fn finds_every_key_of_each_value_type_with_its_start_and_db() {
    let mut r = Rdb::new();
    r.byte(OPCODE_AUX).string(b"redis-ver").string(b"8.6.3");
    r.byte(OPCODE_FUNCTION2).string(b"#!lua name=x\n");
    r.byte(OPCODE_SELECTDB).len(0);
    r.byte(OPCODE_RESIZEDB).len(100).len(3);
    let mut expected = Vec::new();
    let mut at = |r: &Rdb, key: &[u8], db: u64| expected.push((r.0.len() as u64, db, key.to_vec()));
    at(&r, b"s", 0);
    r.byte(TYPE_STRING).string(b"s").string(b"value");
    at(&r, b"expiring", 0);
    r.byte(OPCODE_EXPIRETIME_MS)
        .raw(&[1; 8])
        .byte(OPCODE_FREQ)
        .byte(255);
    r.byte(TYPE_STRING).string(b"expiring").int_string(-1);
    at(&r, b"12345", 0);
    r.byte(OPCODE_IDLE)
        .len(70000)
        .byte(TYPE_SET)
        .int_string(12345)
        .len(2);
    r.string(b"a").int_string(300);
    at(&r, b"list", 0);
    r.byte(TYPE_LIST).string(b"list").len(1).string(b"x");
    at(&r, b"z", 0);
    r.byte(TYPE_ZSET).string(b"z").len(3);
    r.string(b"m1")
        .byte(3)
        .raw(b"1.5")
        .string(b"m2")
        .byte(253)
        .string(b"m3")
        .byte(255);
    at(&r, b"h", 0);
    r.byte(TYPE_HASH)
        .string(b"h")
        .len(1)
        .string(b"f")
        .string(b"v");
    r.byte(OPCODE_SELECTDB).len(9);
    r.byte(OPCODE_SLOT_INFO).len(1).len(2).len(3);
    at(&r, b"z2", 9);
    r.byte(TYPE_ZSET_2)
        .string(b"z2")
        .len(1)
        .string(b"m")
        .raw(&[0; 8]);
    for (t, name) in [
        (TYPE_HASH_ZIPMAP, "zipmap"),
        (TYPE_LIST_ZIPLIST, "ziplist"),
        (TYPE_SET_INTSET, "intset"),
        (TYPE_ZSET_ZIPLIST, "zzl"),
        (TYPE_HASH_ZIPLIST, "hzl"),
        (TYPE_HASH_LISTPACK, "hlp"),
        (TYPE_ZSET_LISTPACK, "zlp"),
        (TYPE_SET_LISTPACK, "slp"),
        (TYPE_HASH_LISTPACK_EX_PRE_GA, "hlpex0"),
    ] {
        at(&r, name.as_bytes(), 9);
        r.byte(t).string(name.as_bytes()).string(&[0xff; 300]);
    }
    at(&r, b"hlpex", 9);
    r.byte(TYPE_HASH_LISTPACK_EX)
        .string(b"hlpex")
        .raw(&[7; 8])
        .string(b"blob");
    at(&r, b"q", 9);
    r.byte(TYPE_LIST_QUICKLIST)
        .string(b"q")
        .len(2)
        .string(b"zl1")
        .string(b"zl2");
    at(&r, b"q2", 9);
    r.byte(TYPE_LIST_QUICKLIST_2)
        .string(b"q2")
        .len(2)
        .len(2)
        .string(b"lp")
        .len(1)
        .string(b"plain");
    at(&r, b"hm", 9);
    r.byte(TYPE_HASH_METADATA).string(b"hm").raw(&[0; 8]).len(2);
    r.len(0)
        .string(b"f")
        .string(b"v")
        .len(5)
        .string(b"g")
        .int_string(7);
    at(&r, b"hm0", 9);
    r.byte(TYPE_HASH_METADATA_PRE_GA)
        .string(b"hm0")
        .len(1)
        .len(1 << 40)
        .string(b"f")
        .string(b"v");
    let compressed = [2, b'a', b'b', b'c', 0xe0, 12, 2]; // "abc" then 21 bytes back 3
    let mut plain = Vec::new();
    assert!(lzf_decompress(&compressed, 24, &mut plain));
    at(&r, &plain, 9);
    r.byte(TYPE_STRING).lzf_string(&compressed, 24).string(b"v");
    // Module aux data and a module value, in the typed API's opcodes.
    let module_values = |r: &mut Rdb| {
        r.len(1)
            .len(u64::MAX >> 1)
            .len(2)
            .byte(0xc0)
            .byte(5)
            .string(b"str");
        r.len(3).raw(&[1; 4]).len(4).raw(&[2; 8]).len(0);
    };
    r.byte(OPCODE_MODULE_AUX).len(0x1234 << 10).len(2).len(2);
    module_values(&mut r);
    at(&r, b"module", 9);
    r.byte(TYPE_MODULE_2).string(b"module").len(0x1234 << 10);
    module_values(&mut r);
    // A stream of each RDB type: two listpacks, counters, a group with a PEL and a
    // consumer, and (v4) idempotent producers.
    for (t, name) in [(15u8, "x1"), (19, "x2"), (21, "x3"), (26, "x4")] {
        at(&r, name.as_bytes(), 9);
        r.byte(t).string(name.as_bytes()).len(2);
        r.string(&[0; 16])
            .string(b"lp1")
            .string(&[1; 16])
            .string(b"lp2");
        r.len(5).len(1 << 40).len(3);
        if t >= 19 {
            r.len(1).len(0).len(0).len(0).len(9);
        }
        r.len(1).string(b"group").len(1 << 40).len(1);
        if t >= 19 {
            r.len(4);
        }
        r.len(2).raw(&[3; 24]).len(1).raw(&[4; 24]).len(7);
        r.len(1).string(b"consumer").raw(&[5; 8]);
        if t >= 21 {
            r.raw(&[6; 8]);
        }
        r.len(2).raw(&[3; 16]).raw(&[4; 16]);
        if t >= 26 {
            r.len(100).len(1000).len(1).string(b"producer").len(2);
            r.string(b"iid1").len(1).len(2).int_string(77).len(3).len(4);
            r.len(2).len(0);
        }
    }
    r.byte(OPCODE_EOF).raw(&[0; 8]);
    assert_eq!(plain, b"abcabcabcabcabcabcabcabc");

    let (keys, end) = keys_of(&r.0);
    assert_eq!(end, ScanEnd::Eof);
    assert_eq!(keys, expected);
}

#[test]
fn stops_at_records_it_does_not_step_over() {
    for (opcode, tail) in [
        (OPCODE_KEY_META, &b"\x01\x02"[..]),
        (OPCODE_FUNCTION_PRE_GA, b""),
        (6, b"\x01k"), // a 4.0 release-candidate module value
        (8, b"\x01k"), // no such type
        (30, b"\x01k"),
    ] {
        let mut r = Rdb::new();
        r.byte(TYPE_STRING).string(b"before").string(b"v");
        r.byte(opcode).raw(tail);
        r.byte(TYPE_STRING).string(b"after").string(b"v");
        let (keys, end) = keys_of(&r.0);
        assert_eq!(end, ScanEnd::Unsupported(opcode));
        assert_eq!(keys, vec![(9, 0, b"before".to_vec())], "opcode {opcode}");
    }
}

#[test]
fn a_key_too_long_to_keep_is_stepped_over_without_a_record() {
    let mut r = Rdb::new();
    let long = vec![b'k'; KEY_MAX + 1];
    r.byte(TYPE_STRING).string(&long).string(b"v");
    let next = r.0.len() as u64;
    r.byte(TYPE_STRING)
        .string(b"short")
        .string(b"v")
        .byte(OPCODE_EOF);
    let (keys, end) = keys_of(&r.0);
    assert_eq!(
        (keys, end),
        (vec![(next, 0, b"short".to_vec())], ScanEnd::Eof)
    );
}

#[test]
fn short_and_malformed_streams_end_the_scan() {
    let mut r = Rdb::new();
    r.byte(TYPE_STRING).string(b"k").string(b"value");
    let whole = r.0.clone();
    for cut in 0..whole.len() {
        let (keys, end) = keys_of(&whole[..cut]);
        assert_eq!(end, ScanEnd::Short, "cut at {cut}");
        // The key is handed out once read whole, before its value.
        assert_eq!(keys.len(), usize::from(cut >= 12), "cut at {cut}");
    }
    assert_eq!(keys_of(b"RODIS0012\xff").1, ScanEnd::Malformed);
    // An unknown length encoding (0x82), an encoded length where a count is due, an
    // unknown string encoding.
    for bad in [&b"\x00\x82"[..], b"\xfe\xc0", b"\x00\xc5"] {
        let mut r = Rdb::new();
        r.raw(bad).raw(b"more bytes");
        assert_eq!(keys_of(&r.0), (vec![], ScanEnd::Malformed), "{bad:?}");
    }
}

#[test]
fn lzf_refuses_what_does_not_expand_exactly() {
    let mut out = Vec::new();
    // A back reference before the start, a literal run past the end, the wrong length.
    assert!(!lzf_decompress(&[0x20, 0], 3, &mut out));
    assert!(!lzf_decompress(&[5, b'a'], 6, &mut out));
    out.clear();
    assert!(!lzf_decompress(&[1, b'a', b'b'], 3, &mut out));
    out.clear();
    assert!(lzf_decompress(&[1, b'a', b'b'], 2, &mut out));
    assert_eq!(out, b"ab");
}

#[test]
fn random_streams_of_records_are_found_whole_in_any_block_shape() {
    let mut rng = Rng(0x9e3779b97f4a7c15);
    for round in 0..200 {
        let mut r = Rdb::new();
        let mut expected = Vec::new();
        let mut db = 0;
        for _ in 0..rng.below(40) {
            if rng.below(8) == 0 {
                db = rng.below(16);
                r.byte(OPCODE_SELECTDB).len(db);
            }
            let start = r.0.len() as u64;
            if rng.below(3) == 0 {
                r.byte(OPCODE_EXPIRETIME_MS).raw(&rng.bytes(8));
            }
            let key = match rng.below(3) {
                0 => {
                    let v = rng.next_u64() as i32 as i64 >> rng.below(32);
                    r.byte(TYPE_HASH).int_string(v);
                    v.to_string().into_bytes()
                }
                _ => {
                    let longest = if rng.below(10) == 0 { 20000 } else { 30 };
                    let key = rng.bytes_below(longest);
                    r.byte(TYPE_HASH).string(&key);
                    key
                }
            };
            let fields = rng.below(4);
            r.len(fields);
            for _ in 0..fields {
                let f = rng.bytes_below(100);
                r.string(&f).int_string(rng.below(1 << 20) as i64);
            }
            expected.push((start, db, key));
        }
        r.byte(OPCODE_EOF).raw(&rng.bytes(8));
        let sizes = vec![1 + rng.below(5000) as usize, 1 + rng.below(50) as usize];
        let whole = scan_all(&r.0, vec![r.0.len()]);
        assert_eq!(scan_all(&r.0, sizes), whole, "round {round}");
        assert_eq!(whole, (expected, ScanEnd::Eof), "round {round}");
    }
}

#[test]
fn random_bytes_never_panic_and_every_byte_is_handed_back() {
    let mut rng = Rng(12345);
    for _ in 0..2000 {
        let mut bytes = b"REDIS0012".to_vec();
        bytes.extend(rng.bytes_below(400));
        // scan_all asserts the blocks handed back are the stream.
        let (keys, _) = scan_all(&bytes, vec![1 + rng.below(64) as usize]);
        assert!(keys.iter().all(|(start, _, _)| *start < bytes.len() as u64));
    }
}

/// Scans `rdb` in blocks of `sizes`, taking every value stored as one string (up to
/// `max`): per key record, (start, key, what was taken and its bytes).
/// The value type of the record starting at `start` (after its optional expire).
fn value_type_of(rdb: &[u8], start: u64) -> u8 {
    match rdb[start as usize] {
        OPCODE_EXPIRETIME_MS => rdb[start as usize + 9],
        t => t,
    }
}

fn take_all(rdb: &[u8], sizes: Vec<usize>, max: u64) -> Vec<(u64, Vec<u8>, TakenValue, Vec<u8>)> {
    let mut input = BlockInput::new(mem::MemBlocks::new(rdb, sizes));
    let mut scan = RdbScan::new();
    let mut found = Vec::new();
    while let Scanned::Key { start, key, .. } = scan.next(&mut input) {
        let key = key.to_vec();
        let mut bytes = Vec::new();
        let taken = scan.take_string_value(&mut input, max, &mut bytes);
        if let TakenValue::Taken { start } = taken {
            assert_eq!(input.position(), start + bytes.len() as u64);
        }
        found.push((start, key, taken, bytes));
    }
    found
}

#[test]
fn values_stored_as_one_string_are_taken_as_stored_in_any_block_shape() {
    let mut rng = Rng(0x5eed_0f7a_4e00);
    for round in 0..300 {
        let mut r = Rdb::new();
        // Per record: (start, key, the value's start and bytes when it is to be taken).
        type Expected = (u64, Vec<u8>, Option<(u64, Vec<u8>)>);
        let mut expected: Vec<Expected> = Vec::new();
        let max = 1 + rng.below(300);
        for k in 0..rng.below(30) {
            let start = r.0.len() as u64;
            if rng.below(3) == 0 {
                r.byte(OPCODE_EXPIRETIME_MS).raw(&rng.bytes(8));
            }
            let key = format!("key:{k}").into_bytes();
            let one_string = [
                TYPE_STRING,
                TYPE_SET_INTSET,
                TYPE_HASH_LISTPACK,
                TYPE_ZSET_LISTPACK,
            ];
            let kind = rng.below(6);
            let value_type = match kind {
                0..=3 => one_string[kind as usize],
                _ => TYPE_SET,
            };
            r.byte(value_type).string(&key);
            let value_start = r.0.len() as u64;
            let taken = if value_type == TYPE_SET {
                r.len(2).string(b"a").int_string(7);
                None
            } else {
                // Whether it fits `max` (the LZF forms hold 6 bytes; the second states 5
                // but expands to 3).
                let (fits, _) = match rng.below(4) {
                    0 => (
                        true,
                        r.int_string(rng.next_u64() as i32 as i64 >> rng.below(32)),
                    ),
                    1 => (6 <= max, r.lzf_string(&[2, b'x', b'y', b'z', 0x20, 2], 6)),
                    2 => (false, r.lzf_string(&[2, b'x', b'y', b'z'], 5)),
                    _ => {
                        let v = rng.bytes_below(400);
                        (v.len() as u64 <= max, r.string(&v))
                    }
                };
                let bytes = r.0[value_start as usize..].to_vec();
                fits.then_some((value_start, bytes))
            };
            expected.push((start, key, taken));
        }
        r.byte(OPCODE_EOF).raw(&rng.bytes(8));
        let sizes = vec![1 + rng.below(700) as usize, 1 + rng.below(40) as usize];
        let found = take_all(&r.0, sizes, max);
        assert_eq!(
            found.len(),
            expected.len(),
            "round {round}: every record found"
        );
        for ((start, key, taken, bytes), (e_start, e_key, e_taken)) in found.iter().zip(&expected) {
            assert_eq!((start, key), (e_start, e_key), "round {round}");
            match (taken, e_taken) {
                (TakenValue::Taken { start }, Some((e_start, e_bytes))) => {
                    assert_eq!((start, bytes), (e_start, e_bytes), "round {round}");
                }
                (TakenValue::NotOneString | TakenValue::SteppedOver, None) => {
                    assert!(bytes.is_empty());
                    let one = value_type_of(&r.0, *e_start) != TYPE_SET;
                    assert_eq!(*taken == TakenValue::SteppedOver, one, "round {round}");
                }
                (_, _) => {
                    panic!("round {round}: {key:?} taken as {taken:?}, expected {e_taken:?}, max {max}")
                }
            }
        }
    }
}

#[test]
fn a_value_longer_than_asked_for_or_a_bad_lzf_payload_is_stepped_over_and_the_scan_goes_on() {
    let mut r = Rdb::new();
    r.byte(TYPE_STRING).string(b"long").string(&[b'v'; 100]);
    r.byte(TYPE_STRING)
        .string(b"bad")
        .lzf_string(&[2, b'x', b'y', b'z'], 5);
    r.byte(TYPE_STRING).string(b"empty").lzf_string(&[], 0);
    r.byte(TYPE_STRING).string(b"short").string(b"v");
    r.byte(OPCODE_EOF).raw(&[0; 8]);
    let found = take_all(&r.0, vec![3], 50);
    let outcomes: Vec<_> = found
        .iter()
        .map(|(_, k, t, b)| (k.clone(), *t, b.len()))
        .collect();
    let short_at = r.0.len() as u64 - 9 - 2;
    assert_eq!(
        outcomes,
        vec![
            (b"long".to_vec(), TakenValue::SteppedOver, 0),
            (b"bad".to_vec(), TakenValue::SteppedOver, 0),
            (b"empty".to_vec(), TakenValue::SteppedOver, 0),
            (b"short".to_vec(), TakenValue::Taken { start: short_at }, 2),
        ]
    );
    // A stream that ends inside a taken value ends the scan.
    let cut = &r.0[..r.0.len() - 10];
    let found = take_all(cut, vec![5], 50);
    assert_eq!(found.last().map(|f| f.2), Some(TakenValue::SteppedOver));
}

#[test]
fn a_taken_values_payload_is_its_plain_bytes_or_its_lzf_expansion() {
    let mut r = Rdb::new();
    r.byte(TYPE_STRING).string(b"a").string(b"plain");
    r.byte(TYPE_STRING)
        .string(b"b")
        .lzf_string(&[2, b'x', b'y', b'z', 0x20, 2], 6);
    r.byte(TYPE_STRING).string(b"c").int_string(-5);
    r.byte(TYPE_STRING).string(b"d").string(&[b'q'; 300]);
    r.byte(OPCODE_EOF).raw(&[0; 8]);
    let mut input = BlockInput::new(mem::MemBlocks::new(&r.0, vec![4]));
    let mut scan = RdbScan::new();
    let mut payloads = Vec::new();
    while let Scanned::Key { .. } = scan.next(&mut input) {
        let mut stored = Vec::new();
        assert!(matches!(
            scan.take_string_value(&mut input, 1000, &mut stored),
            TakenValue::Taken { .. }
        ));
        payloads.push(scan.taken_payload(&stored).map(<[u8]>::to_vec));
    }
    assert_eq!(
        payloads,
        vec![
            Some(b"plain".to_vec()),
            Some(b"xyzxyz".to_vec()),
            None,
            Some(vec![b'q'; 300])
        ]
    );
}

#[test]
fn a_stored_strings_reads_are_upstreams_and_cover_it_exactly() {
    let cases: Vec<(Vec<u8>, Vec<u64>)> = vec![
        (Rdb::default().string(b"").0.clone(), vec![1]),
        (Rdb::default().string(b"abc").0.clone(), vec![1, 3]),
        (
            Rdb::default().string(&[b'x'; 100]).0.clone(),
            vec![1, 1, 100],
        ),
        (
            Rdb::default().string(&[b'x'; 20000]).0.clone(),
            vec![1, 4, 20000],
        ),
        (Rdb::default().int_string(5).0.clone(), vec![1, 1]),
        (Rdb::default().int_string(500).0.clone(), vec![1, 2]),
        (Rdb::default().int_string(1 << 20).0.clone(), vec![1, 4]),
        (
            Rdb::default().lzf_string(&[0; 70], 80).0.clone(),
            vec![1, 1, 1, 1, 1, 70],
        ),
        (
            Rdb::default().lzf_string(&[0; 7], 9).0.clone(),
            vec![1, 1, 1, 7],
        ),
    ];
    for (stored, reads) in cases {
        let got = StringReads::of(&stored);
        assert_eq!(
            got.lens(),
            &reads[..],
            "{:?}",
            &stored[..stored.len().min(4)]
        );
        assert_eq!(got.lens().iter().sum::<u64>(), stored.len() as u64);
    }
    let mut big = vec![0x81];
    big.extend_from_slice(&3u64.to_be_bytes());
    big.extend_from_slice(b"abc");
    assert_eq!(StringReads::of(&big).lens(), &[1, 8, 3]);
}

#[test]
fn the_walk_finds_the_scans_records_and_takes_whole_values() {
    let mut rng = Rng(0x3a1c);
    let mut taken = 0;
    for round in 0..200 {
        let mut r = Rdb::new();
        // Each record's key as upstream's loader reads it, and whether it expires.
        let mut records = Vec::new();
        for k in 0..rng.below(30) {
            let expires = rng.below(3) == 0;
            if expires && rng.below(2) == 0 {
                r.byte(OPCODE_EXPIRETIME_MS).raw(&[7; 8]);
            } else if expires {
                r.byte(OPCODE_EXPIRETIME).raw(&[7; 4]);
            }
            if rng.below(4) == 0 {
                r.byte(OPCODE_FREQ).byte(3);
            }
            let value_type = if rng.below(3) == 2 {
                TYPE_SET
            } else {
                TYPE_STRING
            };
            r.byte(value_type);
            let key = if rng.below(4) == 0 {
                let n = rng.below(1 << 20) as i64 - (1 << 19);
                r.int_string(n);
                n.to_string().into_bytes()
            } else {
                let key = format!("k{k}").into_bytes();
                r.string(&key);
                key
            };
            records.push((key, expires));
            match (value_type, rng.below(2)) {
                (TYPE_SET, _) => r.len(1).string(b"m"),
                (_, 0) => r.string(&rng.bytes_below(300)),
                _ => r.int_string(rng.below(70000) as i64),
            };
        }
        r.byte(OPCODE_EOF).raw(&[0; 8]);
        let sizes = vec![1 + rng.below(500) as usize];
        let mut input = BlockInput::new(mem::MemBlocks::new(&r.0, sizes));
        let mut found = Vec::new();
        let record = std::cell::Cell::new(0);
        let max = rng.below(200);
        let end = RdbScan::new().walk(
            &mut input,
            max,
            |_, start, db, key, value_type| {
                found.push((start, db, key.to_vec()));
                record.set(found.len() - 1);
                value_type == TYPE_STRING
            },
            |input, value| {
                let (key, expires) = &records[record.get()];
                assert_eq!((value.key, value.expires), (&key[..], *expires));
                let at = value.start as usize;
                assert_eq!(&r.0[at..at + value.stored.len()], value.stored);
                assert_eq!(input.position(), value.start + value.stored.len() as u64);
                assert_eq!(
                    value.reads.lens().iter().sum::<u64>(),
                    value.stored.len() as u64
                );
                taken += 1;
            },
        );
        assert_eq!(
            (found, end),
            scan_all(&r.0, vec![r.0.len()]),
            "round {round}"
        );
    }
    assert!(taken > 500, "values were taken: {taken}");
}
