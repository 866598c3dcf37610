//! A structural scan of an RDB stream that finds where each key's record starts, the db
//! it goes to, and the key's bytes, so the loader can hint the keyspace's buckets to the
//! cache a few keys before upstream's RDB loader inserts them.
//!
//! The scan decides nothing: upstream's `rdbLoadRio` still reads every byte and does all
//! the loading and every check. So the scan may stop wherever it is unsure (key
//! metadata, a 4.0 release-candidate module value or function, an unknown type, anything
//! malformed): the load goes on without hints from there. It follows `rdb.c`'s
//! encodings (`rdbLoadLenByRef`, `rdbGenericLoadStringObject`, the record opcodes and
//! each value type's layout in `rdbLoadObject`) only as far as it needs to step over
//! them; a key longer than [`KEY_MAX`] is stepped over without a record.
//!
//! The stream comes through [`ScanInput`]; [`BlockInput`] serves it from a sequence of
//! blocks, the shape the loader's reading thread reads the file in.

/// The longest key the scan keeps for a hint (longer keys are skipped: no record).
pub const KEY_MAX: usize = 64 << 10;

/// Where the scan reads the stream from.
pub trait ScanInput {
    /// Offset of the next byte in the stream.
    fn position(&self) -> u64;
    /// The next byte, or `None` at the end.
    fn byte(&mut self) -> Option<u8>;
    /// Appends the next `n` bytes to `out`; false when the stream ends first.
    fn take(&mut self, n: usize, out: &mut Vec<u8>) -> bool;
    /// Steps over the next `n` bytes; false when the stream ends first.
    fn skip(&mut self, n: u64) -> bool;
}

/// Why the scan found no more records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanEnd {
    /// The EOF opcode.
    Eof,
    /// The stream ended inside the RDB.
    Short,
    /// A record the scan does not step over (its opcode or value type).
    Unsupported(u8),
    /// Bytes upstream's loader would refuse (or that the scan cannot make sense of).
    Malformed,
}

/// What [`RdbScan::next`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Scanned<'k> {
    /// A key's record: its first byte's offset (its first opcode), the db it loads into
    /// (the last SELECTDB), and the key.
    Key { start: u64, db: u64, key: &'k [u8] },
    /// No more records.
    End(ScanEnd),
}

const OPCODE_KEY_META: u8 = 243;
const OPCODE_SLOT_INFO: u8 = 244;
const OPCODE_FUNCTION2: u8 = 245;
const OPCODE_FUNCTION_PRE_GA: u8 = 246;
const OPCODE_MODULE_AUX: u8 = 247;
const OPCODE_IDLE: u8 = 248;
const OPCODE_FREQ: u8 = 249;
const OPCODE_AUX: u8 = 250;
const OPCODE_RESIZEDB: u8 = 251;
const OPCODE_EXPIRETIME_MS: u8 = 252;
const OPCODE_EXPIRETIME: u8 = 253;
const OPCODE_SELECTDB: u8 = 254;
const OPCODE_EOF: u8 = 255;

/// A length as `rdbLoadLenByRef` reads it: a count, or a string's special encoding.
enum Len {
    Plain(u64),
    Encoded(u8),
}

type Step<T> = Result<T, ScanEnd>;

/// The scan's state between records.
pub struct RdbScan {
    db: u64,
    header_read: bool,
    /// The type of the value after the last key handed out, stepped over next.
    value_pending: Option<u8>,
    ended: Option<ScanEnd>,
    key: Vec<u8>,
    /// Whether the last key handed out had an expire opcode before it (upstream's loader
    /// then gives the key its expire metadata).
    key_expires: bool,
    compressed: Vec<u8>,
    /// A taken LZF value's plain bytes (only to prove it expands as it says).
    expanded: Vec<u8>,
}

impl Default for RdbScan {
    fn default() -> Self {
        Self::new()
    }
}

impl RdbScan {
    pub fn new() -> RdbScan {
        RdbScan {
            db: 0,
            header_read: false,
            value_pending: None,
            ended: None,
            key: Vec::new(),
            key_expires: false,
            compressed: Vec::new(),
            expanded: Vec::new(),
        }
    }

    /// The type of the value of the key [`RdbScan::next`] handed out last, while it has
    /// not been stepped over or taken.
    pub fn pending_value_type(&self) -> Option<u8> {
        self.value_pending
    }

    /// Takes the pending value when it is stored as one string (see [`TakenValue`]):
    /// appends its bytes as stored (length, encoding, payload) to `out`. A value of
    /// another layout stays pending (the next [`RdbScan::next`] steps over it).
    pub fn take_string_value(
        &mut self,
        input: &mut impl ScanInput,
        max: u64,
        out: &mut Vec<u8>,
    ) -> TakenValue {
        let Some(value_type) = self.value_pending else {
            return TakenValue::NotOneString;
        };
        if !stored_as_one_string(value_type) {
            return TakenValue::NotOneString;
        }
        self.value_pending = None;
        let start = input.position();
        let base = out.len();
        match self.take_string(input, max, out) {
            Ok(true) => TakenValue::Taken { start },
            Ok(false) => {
                out.truncate(base);
                TakenValue::SteppedOver
            }
            Err(end) => {
                out.truncate(base);
                self.ended = Some(end);
                TakenValue::SteppedOver
            }
        }
    }

    /// The loader's reading thread's walk: every key record found goes to `on_key`
    /// (`input`, its start, its db, its key, its value's type), which answers whether to
    /// take the record's value; a value taken (stored as one string, at most `max` bytes:
    /// [`RdbScan::take_string_value`]) goes to `on_value`. Returns why the scan ended.
    pub fn walk<I: ScanInput>(
        &mut self,
        input: &mut I,
        max: u64,
        mut on_key: impl FnMut(&mut I, u64, u64, &[u8], u8) -> bool,
        mut on_value: impl FnMut(&mut I, Taken<'_>),
    ) -> ScanEnd {
        let mut stored = Vec::new();
        loop {
            if let Some(end) = self.ended {
                return end;
            }
            let db = match self.step(input) {
                Ok(Some(start)) => {
                    let value_type = self.value_pending.unwrap_or(u8::MAX);
                    if !on_key(input, start, self.db, &self.key, value_type) {
                        continue;
                    }
                    self.db
                }
                Ok(None) => unreachable!("step returns a key or an end"),
                Err(end) => {
                    self.ended = Some(end);
                    return end;
                }
            };
            let value_type = self.value_pending.unwrap_or(u8::MAX);
            stored.clear();
            if let TakenValue::Taken { start } = self.take_string_value(input, max, &mut stored) {
                let taken = Taken {
                    value_type,
                    db,
                    key: &self.key,
                    expires: self.key_expires,
                    start,
                    stored: &stored,
                    payload: self.taken_payload(&stored),
                    reads: StringReads::of(&stored),
                };
                on_value(input, taken);
            }
        }
    }

    /// The payload of the value [`RdbScan::take_string_value`] took last, whose bytes as
    /// stored are `stored`: the bytes a plain string holds, or an LZF payload expanded;
    /// None for an integer.
    pub fn taken_payload<'a>(&'a self, stored: &'a [u8]) -> Option<&'a [u8]> {
        let first = *stored.first()?;
        match (first >> 6, first & 0x3f) {
            (3, ENC_LZF) => Some(&self.expanded),
            (3, _) => None,
            (0, _) => stored.get(1..),
            (1, _) => stored.get(2..),
            _ if first == 0x80 => stored.get(5..),
            _ => stored.get(9..),
        }
    }

    /// One string as `rdbGenericLoadStringObject` reads it, its bytes as stored appended
    /// to `out`: Ok(false) when it was stepped over instead (longer than `max`, or an LZF
    /// payload that is empty or does not expand to exactly its stated length).
    fn take_string(
        &mut self,
        input: &mut impl ScanInput,
        max: u64,
        out: &mut Vec<u8>,
    ) -> Step<bool> {
        let first = byte(input)?;
        out.push(first);
        let payload = match first >> 6 {
            3 => match first & 0x3f {
                // An integer (1, 2 or 4 bytes) is taken whatever `max` says.
                ENC_INT8 => return take_exact(input, 1, out).map(|()| true),
                ENC_INT16 => return take_exact(input, 2, out).map(|()| true),
                ENC_INT32 => return take_exact(input, 4, out).map(|()| true),
                ENC_LZF => {
                    let compressed = take_plain_len(input, out)?;
                    let plain = take_plain_len(input, out)?;
                    if compressed > max || plain > max || compressed == 0 || plain == 0 {
                        skip(input, compressed)?;
                        return Ok(false);
                    }
                    let at = out.len();
                    take_exact(input, compressed as usize, out)?;
                    self.expanded.clear();
                    return Ok(lzf_decompress(
                        &out[at..],
                        plain as usize,
                        &mut self.expanded,
                    ));
                }
                _ => return Err(ScanEnd::Malformed),
            },
            // A plain length: its first byte is in `out`; the rest follows it.
            _ => take_rest_of_len(first, input, out)?,
        };
        if payload > max {
            skip(input, payload)?;
            return Ok(false);
        }
        take_exact(input, payload as usize, out)?;
        Ok(true)
    }

    /// The next key record, or why there are no more (then always the same answer).
    pub fn next(&mut self, input: &mut impl ScanInput) -> Scanned<'_> {
        if self.ended.is_none() {
            match self.step(input) {
                Ok(Some(start)) => {
                    return Scanned::Key {
                        start,
                        db: self.db,
                        key: &self.key,
                    }
                }
                Ok(None) => unreachable!("step returns a key or an end"),
                Err(end) => self.ended = Some(end),
            }
        }
        Scanned::End(self.ended.unwrap_or(ScanEnd::Malformed))
    }

    fn step(&mut self, input: &mut impl ScanInput) -> Step<Option<u64>> {
        if !self.header_read {
            let mut header = Vec::with_capacity(9);
            if !input.take(9, &mut header) {
                return Err(ScanEnd::Short);
            }
            if &header[..5] != b"REDIS" {
                return Err(ScanEnd::Malformed);
            }
            self.header_read = true;
        }
        if let Some(value_type) = self.value_pending.take() {
            skip_value(input, value_type)?;
        }
        let mut start = None;
        let mut expires = false;
        loop {
            let at = input.position();
            let opcode = byte(input)?;
            match opcode {
                OPCODE_EOF => return Err(ScanEnd::Eof),
                OPCODE_SELECTDB => self.db = plain_len(input)?,
                OPCODE_RESIZEDB => {
                    plain_len(input)?;
                    plain_len(input)?;
                }
                OPCODE_SLOT_INFO => {
                    for _ in 0..3 {
                        plain_len(input)?;
                    }
                }
                OPCODE_AUX => {
                    skip_string(input)?;
                    skip_string(input)?;
                }
                OPCODE_FUNCTION2 => skip_string(input)?,
                // Prefixes of the key's record.
                OPCODE_EXPIRETIME_MS => {
                    start.get_or_insert(at);
                    expires = true;
                    skip(input, 8)?;
                }
                OPCODE_EXPIRETIME => {
                    start.get_or_insert(at);
                    expires = true;
                    skip(input, 4)?;
                }
                OPCODE_FREQ => {
                    start.get_or_insert(at);
                    skip(input, 1)?;
                }
                OPCODE_IDLE => {
                    start.get_or_insert(at);
                    plain_len(input)?;
                }
                OPCODE_MODULE_AUX => {
                    // Module ID, `when` (as a UINT opcode and its value), the data.
                    skip_lens(input, 3)?;
                    skip_module_values(input)?;
                }
                OPCODE_KEY_META | OPCODE_FUNCTION_PRE_GA => {
                    return Err(ScanEnd::Unsupported(opcode))
                }
                value_type => {
                    if !steps_over(value_type) {
                        return Err(ScanEnd::Unsupported(value_type));
                    }
                    let record_start = *start.get_or_insert(at);
                    if self.read_key(input)? {
                        self.value_pending = Some(value_type);
                        self.key_expires = expires;
                        return Ok(Some(record_start));
                    }
                    // Too long to keep: no record for this key.
                    skip_value(input, value_type)?;
                    start = None;
                    expires = false;
                }
            }
        }
    }

    /// Reads a key into `self.key`: false (the key stepped over) when it is longer than
    /// [`KEY_MAX`].
    fn read_key(&mut self, input: &mut impl ScanInput) -> Step<bool> {
        self.key.clear();
        match len(input)? {
            Len::Plain(n) => {
                if n > KEY_MAX as u64 {
                    skip(input, n)?;
                    return Ok(false);
                }
                if !input.take(n as usize, &mut self.key) {
                    return Err(ScanEnd::Short);
                }
            }
            Len::Encoded(ENC_LZF) => {
                let compressed = plain_len(input)?;
                let plain = plain_len(input)?;
                if compressed > KEY_MAX as u64 || plain > KEY_MAX as u64 {
                    skip(input, compressed)?;
                    return Ok(false);
                }
                self.compressed.clear();
                if !input.take(compressed as usize, &mut self.compressed) {
                    return Err(ScanEnd::Short);
                }
                if !lzf_decompress(&self.compressed, plain as usize, &mut self.key) {
                    return Err(ScanEnd::Malformed);
                }
            }
            Len::Encoded(encoding) => {
                let value = integer(input, encoding)?;
                self.key.extend_from_slice(value.to_string().as_bytes());
            }
        }
        Ok(true)
    }
}

const ENC_INT8: u8 = 0;
const ENC_INT16: u8 = 1;
const ENC_INT32: u8 = 2;
const ENC_LZF: u8 = 3;

fn byte(input: &mut impl ScanInput) -> Step<u8> {
    input.byte().ok_or(ScanEnd::Short)
}

fn skip(input: &mut impl ScanInput, n: u64) -> Step<()> {
    if input.skip(n) {
        Ok(())
    } else {
        Err(ScanEnd::Short)
    }
}

fn fixed<const N: usize>(input: &mut impl ScanInput) -> Step<[u8; N]> {
    let mut bytes = [0u8; N];
    for b in &mut bytes {
        *b = byte(input)?;
    }
    Ok(bytes)
}

/// `rdbLoadLenByRef`.
fn len(input: &mut impl ScanInput) -> Step<Len> {
    let first = byte(input)?;
    Ok(match first >> 6 {
        3 => Len::Encoded(first & 0x3f),
        0 => Len::Plain((first & 0x3f) as u64),
        1 => Len::Plain((((first & 0x3f) as u64) << 8) | byte(input)? as u64),
        _ if first == 0x80 => Len::Plain(u32::from_be_bytes(fixed(input)?) as u64),
        _ if first == 0x81 => Len::Plain(u64::from_be_bytes(fixed(input)?)),
        _ => return Err(ScanEnd::Malformed),
    })
}

/// `rdbLoadLen` where a count is due: an encoded length is not one.
fn plain_len(input: &mut impl ScanInput) -> Step<u64> {
    match len(input)? {
        Len::Plain(n) => Ok(n),
        Len::Encoded(_) => Err(ScanEnd::Malformed),
    }
}

/// `rdbLoadIntegerObject`'s integer (little-endian, signed).
fn integer(input: &mut impl ScanInput, encoding: u8) -> Step<i64> {
    Ok(match encoding {
        ENC_INT8 => i8::from_le_bytes(fixed(input)?) as i64,
        ENC_INT16 => i16::from_le_bytes(fixed(input)?) as i64,
        ENC_INT32 => i32::from_le_bytes(fixed(input)?) as i64,
        _ => return Err(ScanEnd::Malformed),
    })
}

/// Steps over a string as `rdbGenericLoadStringObject` reads it.
fn skip_string(input: &mut impl ScanInput) -> Step<()> {
    match len(input)? {
        Len::Plain(n) => skip(input, n),
        Len::Encoded(ENC_LZF) => {
            let compressed = plain_len(input)?;
            plain_len(input)?;
            skip(input, compressed)
        }
        Len::Encoded(encoding) => integer(input, encoding).map(drop),
    }
}

/// `RDB_TYPE_STRING`: a string value.
pub const TYPE_STRING: u8 = 0;
const TYPE_LIST: u8 = 1;
const TYPE_SET: u8 = 2;
const TYPE_ZSET: u8 = 3;
const TYPE_HASH: u8 = 4;
const TYPE_ZSET_2: u8 = 5;
const TYPE_MODULE_2: u8 = 7;
const TYPE_HASH_ZIPMAP: u8 = 9;
const TYPE_LIST_ZIPLIST: u8 = 10;
pub const TYPE_SET_INTSET: u8 = 11;
const TYPE_ZSET_ZIPLIST: u8 = 12;
const TYPE_HASH_ZIPLIST: u8 = 13;
const TYPE_LIST_QUICKLIST: u8 = 14;
const TYPE_STREAM_LISTPACKS: u8 = 15;
pub const TYPE_HASH_LISTPACK: u8 = 16;
pub const TYPE_ZSET_LISTPACK: u8 = 17;
const TYPE_LIST_QUICKLIST_2: u8 = 18;
const TYPE_STREAM_LISTPACKS_2: u8 = 19;
pub const TYPE_SET_LISTPACK: u8 = 20;
const TYPE_STREAM_LISTPACKS_3: u8 = 21;
const TYPE_HASH_METADATA_PRE_GA: u8 = 22;
const TYPE_HASH_LISTPACK_EX_PRE_GA: u8 = 23;
const TYPE_HASH_METADATA: u8 = 24;
const TYPE_HASH_LISTPACK_EX: u8 = 25;
const TYPE_STREAM_LISTPACKS_4: u8 = 26;

/// The value types the scan steps over (all but 4.0's release-candidate module values).
fn steps_over(value_type: u8) -> bool {
    matches!(
        value_type,
        TYPE_MODULE_2
            | TYPE_STREAM_LISTPACKS
            | TYPE_STREAM_LISTPACKS_2
            | TYPE_STREAM_LISTPACKS_3
            | TYPE_STREAM_LISTPACKS_4
            | TYPE_STRING
            | TYPE_LIST
            | TYPE_SET
            | TYPE_ZSET
            | TYPE_HASH
            | TYPE_ZSET_2
            | TYPE_HASH_ZIPMAP
            | TYPE_LIST_ZIPLIST
            | TYPE_SET_INTSET
            | TYPE_ZSET_ZIPLIST
            | TYPE_HASH_ZIPLIST
            | TYPE_LIST_QUICKLIST
            | TYPE_HASH_LISTPACK
            | TYPE_ZSET_LISTPACK
            | TYPE_LIST_QUICKLIST_2
            | TYPE_SET_LISTPACK
            | TYPE_HASH_METADATA_PRE_GA
            | TYPE_HASH_LISTPACK_EX_PRE_GA
            | TYPE_HASH_METADATA
            | TYPE_HASH_LISTPACK_EX
    )
}

/// Steps over a value of `value_type` (one [`steps_over`] accepts), laid out as
/// `rdbLoadObject` reads it.
fn skip_value(input: &mut impl ScanInput, value_type: u8) -> Step<()> {
    match value_type {
        t if stored_as_one_string(t) => skip_string(input),
        TYPE_HASH_LISTPACK_EX => {
            skip(input, 8)?;
            skip_string(input)
        }
        TYPE_LIST | TYPE_SET | TYPE_LIST_QUICKLIST => {
            for _ in 0..plain_len(input)? {
                skip_string(input)?;
            }
            Ok(())
        }
        TYPE_LIST_QUICKLIST_2 => {
            for _ in 0..plain_len(input)? {
                plain_len(input)?;
                skip_string(input)?;
            }
            Ok(())
        }
        TYPE_HASH => {
            for _ in 0..plain_len(input)? {
                skip_string(input)?;
                skip_string(input)?;
            }
            Ok(())
        }
        TYPE_ZSET => {
            for _ in 0..plain_len(input)? {
                skip_string(input)?;
                // rdbLoadDoubleValue: a length byte, or 253..255 for nan/inf/-inf.
                let n = byte(input)?;
                if n < 253 {
                    skip(input, n as u64)?;
                }
            }
            Ok(())
        }
        TYPE_ZSET_2 => {
            for _ in 0..plain_len(input)? {
                skip_string(input)?;
                skip(input, 8)?;
            }
            Ok(())
        }
        TYPE_HASH_METADATA | TYPE_HASH_METADATA_PRE_GA => {
            if value_type == TYPE_HASH_METADATA {
                skip(input, 8)?;
            }
            for _ in 0..plain_len(input)? {
                plain_len(input)?;
                skip_string(input)?;
                skip_string(input)?;
            }
            Ok(())
        }
        TYPE_MODULE_2 => {
            plain_len(input)?;
            skip_module_values(input)
        }
        TYPE_STREAM_LISTPACKS
        | TYPE_STREAM_LISTPACKS_2
        | TYPE_STREAM_LISTPACKS_3
        | TYPE_STREAM_LISTPACKS_4 => skip_stream(input, value_type),
        other => Err(ScanEnd::Unsupported(other)),
    }
}

/// The reads upstream's `rdbGenericLoadStringObject` makes of a string as stored: each
/// `rioRead` call's length, in order (a length's first byte, then the rest of it; an
/// integer's bytes; an LZF string's two lengths and its payload; a plain payload, none
/// when empty). The loader steps over a value built ahead with the same reads, so the
/// progress it reports between reads is upstream's to the byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StringReads {
    lens: [u64; 7],
    count: usize,
}

impl StringReads {
    /// The reads of `stored` (a whole string as [`RdbScan::take_string_value`] takes it).
    pub fn of(stored: &[u8]) -> StringReads {
        let mut reads = StringReads {
            lens: [0; 7],
            count: 0,
        };
        let mut at = 0;
        let push = |reads: &mut StringReads, n: usize| {
            if n > 0 && reads.count < reads.lens.len() {
                reads.lens[reads.count] = n as u64;
                reads.count += 1;
            }
        };
        // A length (rdbLoadLenByRef): its first byte, then 1, 4 or 8 more; the value.
        let length = |reads: &mut StringReads, at: &mut usize| -> Option<(u8, u64)> {
            let first = *stored.get(*at)?;
            push(reads, 1);
            let extra = match first >> 6 {
                0 | 3 => 0,
                1 => 1,
                _ if first == 0x80 => 4,
                _ => 8,
            };
            push(reads, extra);
            let bytes = stored.get(*at..*at + 1 + extra)?;
            *at += 1 + extra;
            Some((first, plain_len_of(bytes)))
        };
        let Some((first, n)) = length(&mut reads, &mut at) else {
            return reads;
        };
        let payload = match (first >> 6, first & 0x3f) {
            (3, ENC_INT8) => 1,
            (3, ENC_INT16) => 2,
            (3, ENC_INT32) => 4,
            (3, _) => {
                // LZF: the compressed and the plain length, then the compressed bytes.
                let compressed = length(&mut reads, &mut at).map_or(0, |(_, n)| n);
                length(&mut reads, &mut at);
                compressed
            }
            _ => n,
        };
        push(&mut reads, payload as usize);
        reads
    }

    /// Each read's length, in order.
    pub fn lens(&self) -> &[u64] {
        &self.lens[..self.count]
    }
}

/// A value [`RdbScan::walk`] took: its type, its key's db, its key (as upstream's loader
/// reads it: an integer key in decimal, an LZF key expanded), whether an expire opcode
/// came before the key, where its bytes start, its bytes as stored, its payload
/// ([`RdbScan::taken_payload`]) and upstream's reads of it.
pub struct Taken<'a> {
    pub value_type: u8,
    pub db: u64,
    pub key: &'a [u8],
    pub expires: bool,
    pub start: u64,
    pub stored: &'a [u8],
    pub payload: Option<&'a [u8]>,
    pub reads: StringReads,
}

/// What [`RdbScan::take_string_value`] did with the pending value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TakenValue {
    /// Its bytes, from offset `start`, are appended: a string value, or an encoded blob
    /// (intset, ziplist, zipmap, listpack) stored as one string, whose length fits, and
    /// (when LZF-compressed) that expands to exactly the length it states.
    Taken { start: u64 },
    /// Stepped over: longer than asked for, an LZF payload that is empty or does not
    /// expand as stated (upstream's loader has its say on those), or the stream ended
    /// or was malformed (the scan has ended).
    SteppedOver,
    /// Not stored as one string (or no value pending): still pending.
    NotOneString,
}

/// The value types `rdbLoadObject` reads as one string (`rdbGenericLoadStringObject`).
fn stored_as_one_string(value_type: u8) -> bool {
    matches!(
        value_type,
        TYPE_STRING
            | TYPE_HASH_ZIPMAP
            | TYPE_LIST_ZIPLIST
            | TYPE_SET_INTSET
            | TYPE_ZSET_ZIPLIST
            | TYPE_HASH_ZIPLIST
            | TYPE_HASH_LISTPACK
            | TYPE_ZSET_LISTPACK
            | TYPE_SET_LISTPACK
            | TYPE_HASH_LISTPACK_EX_PRE_GA
    )
}

/// A plain length (as [`plain_len`]), its bytes as stored appended to `out`.
fn take_plain_len(input: &mut impl ScanInput, out: &mut Vec<u8>) -> Step<u64> {
    let first = byte(input)?;
    out.push(first);
    take_rest_of_len(first, input, out)
}

/// The rest of a plain length whose first byte, `first`, is already the last of `out`:
/// its 0, 1, 4 or 8 more bytes appended, and its value.
fn take_rest_of_len(first: u8, input: &mut impl ScanInput, out: &mut Vec<u8>) -> Step<u64> {
    let extra = match first >> 6 {
        0 => 0,
        1 => 1,
        _ if first == 0x80 => 4,
        _ if first == 0x81 => 8,
        _ => return Err(ScanEnd::Malformed),
    };
    take_exact(input, extra, out)?;
    Ok(plain_len_of(&out[out.len() - 1 - extra..]))
}

/// The plain length stored as `bytes` (its first byte and the 0, 1, 4 or 8 after it).
fn plain_len_of(bytes: &[u8]) -> u64 {
    let first = bytes[0];
    match bytes.len() {
        1 => (first & 0x3f) as u64,
        2 => (((first & 0x3f) as u64) << 8) | bytes[1] as u64,
        _ => bytes[1..].iter().fold(0, |n, &b| (n << 8) | b as u64),
    }
}

/// Appends the next `n` bytes to `out`.
fn take_exact(input: &mut impl ScanInput, n: usize, out: &mut Vec<u8>) -> Step<()> {
    if input.take(n, out) {
        Ok(())
    } else {
        Err(ScanEnd::Short)
    }
}

/// Steps over `count` lengths.
fn skip_lens(input: &mut impl ScanInput, count: usize) -> Step<()> {
    for _ in 0..count {
        plain_len(input)?;
    }
    Ok(())
}

/// Steps over what a module saved with the typed API (`RDB_MODULE_OPCODE_*` before each
/// value, up to `RDB_MODULE_OPCODE_EOF`), as `rdbLoadCheckModuleValue` reads it: a module
/// value of type `RDB_TYPE_MODULE_2`, or module aux data.
fn skip_module_values(input: &mut impl ScanInput) -> Step<()> {
    loop {
        match plain_len(input)? {
            0 => return Ok(()),
            // SINT, UINT: a length-encoded integer (rdbLoadLenByRef, any form).
            1 | 2 => {
                len(input)?;
            }
            3 => skip(input, 4)?,
            4 => skip(input, 8)?,
            5 => skip_string(input)?,
            _ => return Err(ScanEnd::Malformed),
        }
    }
}

/// Steps over a stream as `rdbLoadObject` reads each of its four RDB types.
fn skip_stream(input: &mut impl ScanInput, value_type: u8) -> Step<()> {
    // Listpacks: each a master ID (string) and the listpack (string).
    for _ in 0..plain_len(input)? {
        skip_string(input)?;
        skip_string(input)?;
    }
    // Length and last ID; from v2 on, first ID, max deleted ID and entries added.
    skip_lens(input, 3)?;
    if value_type >= TYPE_STREAM_LISTPACKS_2 {
        skip_lens(input, 5)?;
    }
    for _ in 0..plain_len(input)? {
        // A consumer group: name, last ID (and its offset from v2 on).
        skip_string(input)?;
        skip_lens(input, 2)?;
        if value_type >= TYPE_STREAM_LISTPACKS_2 {
            plain_len(input)?;
        }
        // Its PEL: raw 16-byte IDs, delivery time (8 bytes), delivery count.
        for _ in 0..plain_len(input)? {
            skip(input, 16 + 8)?;
            plain_len(input)?;
        }
        // Its consumers: name, seen time (and active time from v3 on), their PEL IDs.
        for _ in 0..plain_len(input)? {
            skip_string(input)?;
            skip(input, 8)?;
            if value_type >= TYPE_STREAM_LISTPACKS_3 {
                skip(input, 8)?;
            }
            let pending = plain_len(input)?;
            skip(input, pending.saturating_mul(16))?;
        }
    }
    if value_type >= TYPE_STREAM_LISTPACKS_4 {
        // Idempotent producers (8.6): duration, max entries, then each producer's ID and
        // entries (IID string, stream ID), then the two counters.
        skip_lens(input, 2)?;
        for _ in 0..plain_len(input)? {
            skip_string(input)?;
            for _ in 0..plain_len(input)? {
                skip_string(input)?;
                skip_lens(input, 2)?;
            }
        }
        skip_lens(input, 2)?;
    }
    Ok(())
}

/// liblzf's `lzf_decompress` (the format `rdbSaveLzfStringObject` writes): appends the
/// `plain_len` bytes `compressed` expands to to `out`; false when it does not expand to
/// exactly that many.
pub fn lzf_decompress(compressed: &[u8], plain_len: usize, out: &mut Vec<u8>) -> bool {
    let base = out.len();
    let mut i = 0;
    while i < compressed.len() {
        let ctrl = compressed[i] as usize;
        i += 1;
        if ctrl < 32 {
            // A literal run of ctrl + 1 bytes.
            let run = ctrl + 1;
            if i + run > compressed.len() || out.len() - base + run > plain_len {
                return false;
            }
            out.extend_from_slice(&compressed[i..i + run]);
            i += run;
        } else {
            // A back reference: length (ctrl >> 5) + 2, offset from the high bits.
            let mut run = ctrl >> 5;
            if run == 7 {
                let Some(&more) = compressed.get(i) else {
                    return false;
                };
                run += more as usize;
                i += 1;
            }
            let Some(&low) = compressed.get(i) else {
                return false;
            };
            i += 1;
            let back = ((ctrl & 0x1f) << 8) + low as usize + 1;
            let written = out.len() - base;
            run += 2;
            if back > written || written + run > plain_len {
                return false;
            }
            let from = out.len() - back;
            for k in 0..run {
                let b = out[from + k];
                out.push(b);
            }
        }
    }
    out.len() - base == plain_len
}

/// A stream served from a sequence of blocks, each handed back to [`Blocks`] once the
/// scan has read past it (the reading thread ships it to the main thread then).
pub struct BlockInput<B: Blocks> {
    blocks: B,
    current: Option<B::Block>,
    cursor: usize,
    /// Offset of the current block's first byte.
    block_start: u64,
}

/// Where [`BlockInput`] gets its blocks.
pub trait Blocks {
    type Block: AsRef<[u8]>;
    /// The block after `done` (the previous one, which the scan has read past), or
    /// `None` at the end of the stream.
    fn next_block(&mut self, done: Option<Self::Block>) -> Option<Self::Block>;
}

impl<B: Blocks> BlockInput<B> {
    pub fn new(blocks: B) -> BlockInput<B> {
        BlockInput {
            blocks,
            current: None,
            cursor: 0,
            block_start: 0,
        }
    }

    pub fn blocks(&mut self) -> &mut B {
        &mut self.blocks
    }

    /// Reads the rest of the stream block by block (after the scan ended), handing each
    /// block back; returns the blocks' source.
    pub fn run_to_end(mut self) -> B {
        while self.advance() {}
        self.blocks
    }

    /// Moves to the next block with at least one byte: false at the end of the stream.
    fn advance(&mut self) -> bool {
        loop {
            let done = self.current.take();
            if let Some(done) = &done {
                self.block_start += done.as_ref().len() as u64;
            }
            self.cursor = 0;
            match self.blocks.next_block(done) {
                None => return false,
                Some(block) => {
                    let empty = block.as_ref().is_empty();
                    self.current = Some(block);
                    if !empty {
                        return true;
                    }
                }
            }
        }
    }

    /// The unread bytes of the current block, moving to the next block when it has none.
    fn available(&mut self) -> Option<&[u8]> {
        let left = self
            .current
            .as_ref()
            .map_or(0, |b| b.as_ref().len() - self.cursor);
        if left == 0 && !self.advance() {
            return None;
        }
        let block = self.current.as_ref()?.as_ref();
        Some(&block[self.cursor..])
    }
}

impl<B: Blocks> ScanInput for BlockInput<B> {
    fn position(&self) -> u64 {
        self.block_start + self.cursor as u64
    }

    fn byte(&mut self) -> Option<u8> {
        let b = *self.available()?.first()?;
        self.cursor += 1;
        Some(b)
    }

    fn take(&mut self, mut n: usize, out: &mut Vec<u8>) -> bool {
        while n > 0 {
            let Some(bytes) = self.available() else {
                return false;
            };
            let piece = n.min(bytes.len());
            out.extend_from_slice(&bytes[..piece]);
            self.cursor += piece;
            n -= piece;
        }
        true
    }

    fn skip(&mut self, mut n: u64) -> bool {
        while n > 0 {
            let Some(bytes) = self.available() else {
                return false;
            };
            let piece = n.min(bytes.len() as u64) as usize;
            self.cursor += piece;
            n -= piece as u64;
        }
        true
    }
}

/// A stream in memory, as the tests and the fuzz target read it (and cut into blocks).
pub mod mem {
    use super::Blocks;

    /// `bytes` in blocks of the sizes `sizes` gives in turn (the last size repeating),
    /// recording each block handed back.
    pub struct MemBlocks<'b> {
        pub bytes: &'b [u8],
        pub sizes: Vec<usize>,
        next: usize,
        served: usize,
        pub handed_back: Vec<Vec<u8>>,
    }

    impl<'b> MemBlocks<'b> {
        pub fn new(bytes: &'b [u8], sizes: Vec<usize>) -> MemBlocks<'b> {
            MemBlocks {
                bytes,
                sizes,
                next: 0,
                served: 0,
                handed_back: Vec::new(),
            }
        }
    }

    impl Blocks for MemBlocks<'_> {
        type Block = Vec<u8>;
        fn next_block(&mut self, done: Option<Vec<u8>>) -> Option<Vec<u8>> {
            if let Some(done) = done {
                self.handed_back.push(done);
            }
            if self.next >= self.bytes.len() {
                return None;
            }
            let size = self
                .sizes
                .get(self.served)
                .or(self.sizes.last())
                .copied()
                .unwrap_or(1);
            self.served += 1;
            let end = (self.next + size).min(self.bytes.len());
            let block = self.bytes[self.next..end].to_vec();
            self.next = end;
            Some(block)
        }
    }
}

/// Every key record of `rdb` and how the scan ended, read in blocks of `sizes`.
pub fn scan_all(rdb: &[u8], sizes: Vec<usize>) -> (Vec<(u64, u64, Vec<u8>)>, ScanEnd) {
    let mut input = BlockInput::new(mem::MemBlocks::new(rdb, sizes));
    let mut scan = RdbScan::new();
    let mut keys = Vec::new();
    loop {
        match scan.next(&mut input) {
            Scanned::Key { start, db, key } => keys.push((start, db, key.to_vec())),
            Scanned::End(end) => {
                let blocks = input.run_to_end();
                let served: Vec<u8> = blocks.handed_back.concat();
                assert_eq!(served, rdb, "every byte handed back once, in order");
                return (keys, end);
            }
        }
    }
}

#[cfg(test)]
mod tests;
