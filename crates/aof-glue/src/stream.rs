//! Reading a stream for a rewrite: entries, consumer groups, consumers and their pending
//! entries, through upstream's iterators (entries in ID order, groups and consumers in
//! rax order, exactly as upstream's rewrite walks them).

use super::bindings::{self, rax, stream, streamCG, streamConsumer, streamID, streamNACK};
use super::value::Value;
use std::marker::PhantomData;
use std::mem::MaybeUninit;

/// A stream ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl From<streamID> for StreamId {
    fn from(id: streamID) -> StreamId {
        StreamId {
            ms: id.ms,
            seq: id.seq,
        }
    }
}

/// A pending entry: its ID, when it was last delivered and how often.
pub struct Pending {
    pub id: StreamId,
    pub delivery_time: i64,
    pub delivery_count: u64,
}

/// Walks a rax in key order; `f` gets each key and value pointer.
///
/// # Safety
/// `tree` must be a live rax whose values `f` knows how to read.
unsafe fn for_each_in_rax(
    tree: *mut rax,
    mut f: impl FnMut(&[u8], *mut std::ffi::c_void) -> bool,
) -> bool {
    // SAFETY: the iterator lives on this frame between raxStart and raxStop.
    unsafe {
        let mut it = MaybeUninit::<bindings::raxIterator>::zeroed();
        bindings::raxStart(it.as_mut_ptr(), tree);
        bindings::raxSeek(it.as_mut_ptr(), c"^".as_ptr(), std::ptr::null_mut(), 0);
        let mut ok = true;
        while bindings::raxNext(it.as_mut_ptr()) != 0 {
            let ri = &*it.as_ptr();
            let key = std::slice::from_raw_parts(ri.key, ri.key_len);
            if !f(key, ri.data) {
                ok = false;
                break;
            }
        }
        bindings::raxStop(it.as_mut_ptr());
        ok
    }
}

/// A stream value of the keyspace, borrowed for `'a` like the [`Value`] it came from.
pub struct StreamRef<'a> {
    s: *mut stream,
    _borrow: PhantomData<&'a stream>,
}

impl<'a> StreamRef<'a> {
    /// The stream a value holds; aborts (as upstream asserts) when it is not a stream.
    pub fn of(value: Value<'a>) -> StreamRef<'a> {
        super::process::assert(
            value.object_type() == bindings::OBJ_STREAM,
            c"o->type == OBJ_STREAM",
        );
        StreamRef {
            // SAFETY: a live stream object (checked just above) holds its stream in `ptr`.
            s: unsafe { (*value.as_ptr()).ptr as *mut stream },
            _borrow: PhantomData,
        }
    }

    fn s(&self) -> &stream {
        // SAFETY: a live stream for 'a (see `of`), read only.
        unsafe { &*self.s }
    }

    pub fn length(&self) -> u64 {
        self.s().length
    }

    pub fn last_id(&self) -> StreamId {
        self.s().last_id.into()
    }

    pub fn max_deleted_entry_id(&self) -> StreamId {
        self.s().max_deleted_entry_id.into()
    }

    pub fn entries_added(&self) -> u64 {
        self.s().entries_added
    }

    /// Every entry: its ID and a reader of its field/value pairs.
    ///
    /// Upstream's `streamIteratorGetField` returns a string element as a pointer into the
    /// listpack, but formats an integer-encoded one into `field_buf`/`value_buf` inside the
    /// iterator, which its next call overwrites (`t_stream.c`: `lpGetValue` into
    /// `si->field_buf`). So the pairs are handed out one at a time, each borrowing the
    /// [`EntryFields`] mutably: the borrow checker keeps a pair from being held across
    /// the call that overwrites it.
    pub fn for_each_entry(
        &self,
        mut f: impl FnMut(StreamId, &mut EntryFields<'_>) -> bool,
    ) -> bool {
        let mut si = MaybeUninit::<bindings::streamIterator>::zeroed();
        // SAFETY: `self.s` is a live stream (see `of`); the iterator lives on this frame
        // between streamIteratorStart and streamIteratorStop, and the stream is not
        // modified meanwhile (the walk only reads).
        unsafe {
            bindings::streamIteratorStart(
                si.as_mut_ptr(),
                self.s,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                0,
            );
        }
        let mut id = streamID { ms: 0, seq: 0 };
        let mut numfields = 0i64;
        let mut ok = true;
        // SAFETY: the iterator was started above.
        while unsafe { bindings::streamIteratorGetID(si.as_mut_ptr(), &mut id, &mut numfields) }
            != 0
        {
            let mut fields = EntryFields {
                iterator: &mut si,
                left: numfields.max(0) as usize,
            };
            if !f(id.into(), &mut fields) {
                ok = false;
                break;
            }
            // Upstream's iterator requires every field of an entry to be read before
            // the next GetID (it walks the listpack field by field).
            while fields.next_pair().is_some() {}
        }
        // SAFETY: started above and not stopped yet.
        unsafe { bindings::streamIteratorStop(si.as_mut_ptr()) };
        ok
    }

    /// Every consumer group: name, last delivered ID, entries read, and its consumers.
    pub fn for_each_group(
        &self,
        mut f: impl FnMut(&[u8], StreamId, i64, ConsumersRef<'_>) -> bool,
    ) -> bool {
        let groups = self.s().cgroups;
        if groups.is_null() {
            return true;
        }
        // SAFETY: the cgroups rax maps names to streamCG.
        unsafe {
            for_each_in_rax(groups, |name, data| {
                let cg = &*(data as *const streamCG);
                f(
                    name,
                    cg.last_id.into(),
                    cg.entries_read,
                    ConsumersRef {
                        consumers: cg.consumers,
                        _borrow: PhantomData,
                    },
                )
            })
        }
    }
}

/// Idempotent producers (8.6): the stream's IDMP settings and the IDs it remembers.
#[cfg(stream_idmp)]
impl StreamRef<'_> {
    /// `(duration, max entries)`: how long and how many IIDs each producer remembers.
    pub fn idmp_settings(&self) -> (u64, u64) {
        (self.s().idmp_duration, self.s().idmp_max_entries)
    }

    /// Every remembered IID of every producer: producers in rax order (their IDs), each
    /// one's entries in insertion order, as `(producer, iid, stream ID)`. Entries whose
    /// stream entry was deleted or trimmed are handed out too; `contains_entry` tells.
    pub fn for_each_idmp_entry(&self, mut f: impl FnMut(&[u8], &[u8], StreamId) -> bool) -> bool {
        let producers = self.s().idmp_producers;
        if producers.is_null() {
            return true;
        }
        // SAFETY: the producers rax maps producer IDs to idmpProducer (t_stream.c's
        // idmpProducerCreate); each producer's list runs from idmp_head through `next` to
        // NULL, each entry holding `iid_len` bytes of IID inline (stream.h's idmpEntry).
        unsafe {
            for_each_in_rax(producers, |pid, data| {
                let producer = &*(data as *const bindings::idmpProducer);
                let mut entry = producer.idmp_head;
                while !entry.is_null() {
                    let e = &*entry;
                    let iid = std::slice::from_raw_parts(e.iid.as_ptr() as *const u8, e.iid_len);
                    if !f(pid, iid, e.id.into()) {
                        return false;
                    }
                    entry = e.next;
                }
                true
            })
        }
    }

    /// Whether the stream still holds an entry with this ID (`streamEntryExists`).
    pub fn contains_entry(&self, id: StreamId) -> bool {
        let mut raw = streamID {
            ms: id.ms,
            seq: id.seq,
        };
        // SAFETY: a live stream, read only; the ID lives on this frame.
        unsafe { bindings::streamEntryExists(self.s, &mut raw) != 0 }
    }
}

/// The field/value pairs of the stream entry an iterator stands on.
pub struct EntryFields<'it> {
    iterator: &'it mut MaybeUninit<bindings::streamIterator>,
    left: usize,
}

impl EntryFields<'_> {
    /// How many pairs are still to be read.
    pub fn len(&self) -> usize {
        self.left
    }

    pub fn is_empty(&self) -> bool {
        self.left == 0
    }

    /// The next field and value, valid until the next call (see
    /// [`StreamRef::for_each_entry`]).
    pub fn next_pair(&mut self) -> Option<(&[u8], &[u8])> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let (mut fp, mut vp, mut fl, mut vl) =
            (std::ptr::null_mut(), std::ptr::null_mut(), 0i64, 0i64);
        // SAFETY: the iterator is started and stands on an entry with `left + 1` fields
        // still unread (GetID reported their number). The pointers it returns stay valid
        // until its next call: into the listpack, which the read-only walk does not
        // change, or into the iterator's own buffers, which only the next call rewrites;
        // the slices borrow `self` mutably, so no such call can happen while they live.
        unsafe {
            bindings::streamIteratorGetField(
                self.iterator.as_mut_ptr(),
                &mut fp,
                &mut vp,
                &mut fl,
                &mut vl,
            );
            Some((
                std::slice::from_raw_parts(fp as *const u8, fl as usize),
                std::slice::from_raw_parts(vp as *const u8, vl as usize),
            ))
        }
    }
}

/// The consumers of one group, borrowed with the stream.
pub struct ConsumersRef<'a> {
    consumers: *mut rax,
    _borrow: PhantomData<&'a rax>,
}

impl ConsumersRef<'_> {
    /// Every consumer: its name and its pending entries (possibly none).
    pub fn for_each(&self, mut f: impl FnMut(&[u8], PendingRef<'_>) -> bool) -> bool {
        // SAFETY: a group's consumers rax maps names to streamConsumer, live with the
        // stream.
        unsafe {
            for_each_in_rax(self.consumers, |_, data| {
                let consumer = &*(data as *const streamConsumer);
                f(
                    super::sds::bytes(consumer.name),
                    PendingRef {
                        pel: consumer.pel,
                        _borrow: PhantomData,
                    },
                )
            })
        }
    }
}

/// A consumer's pending entries list, borrowed with the stream.
pub struct PendingRef<'a> {
    pel: *mut rax,
    _borrow: PhantomData<&'a rax>,
}

impl PendingRef<'_> {
    pub fn is_empty(&self) -> bool {
        // SAFETY: a live rax (see the type).
        unsafe { bindings::raxSize(self.pel) == 0 }
    }

    pub fn for_each(&self, mut f: impl FnMut(Pending) -> bool) -> bool {
        // SAFETY: a consumer's PEL maps big-endian IDs to streamNACK.
        unsafe {
            for_each_in_rax(self.pel, |raw_id, data| {
                let nack = &*(data as *const streamNACK);
                let mut id = streamID { ms: 0, seq: 0 };
                bindings::streamDecodeID(raw_id.as_ptr() as *mut _, &mut id);
                f(Pending {
                    id: id.into(),
                    delivery_time: nack.delivery_time,
                    delivery_count: nack.delivery_count,
                })
            })
        }
    }
}

/// A pending entry from its encoded ID and NACK (for C callers of the PEL writer).
///
/// # Safety
/// `rawid` must point to 16 readable bytes: an encoded stream ID, such as a PEL's rax key.
pub unsafe fn decode_pending(rawid: *mut u8, nack: &streamNACK) -> Pending {
    let mut id = streamID { ms: 0, seq: 0 };
    // SAFETY: `rawid` points to 16 readable bytes (the caller's `# Safety`), all that
    // streamDecodeID reads (by memcpy, so unaligned is fine); `id` is a local.
    unsafe { bindings::streamDecodeID(rawid as *mut _, &mut id) };
    Pending {
        id: id.into(),
        delivery_time: nack.delivery_time,
        delivery_count: nack.delivery_count,
    }
}
