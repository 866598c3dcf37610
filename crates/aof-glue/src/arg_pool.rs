//! Argument objects built away from the main thread, for the pipelined loader.

use super::bindings::{self, robj};
use crate::unwritten::{unwritten_string, UnwrittenBytes};

/// The argument objects of a batch of commands built away from the main thread (by the
/// pipelined loader's reading thread), owned here until
/// [`super::aof_client::AofClient::take_args`] moves a command's to the AOF client on the
/// main thread; `drop` frees those not taken. One vector serves a whole batch, so a
/// command costs no allocation besides its objects.
///
/// Building them off the main thread is what upstream's own IO threads do with every query
/// since 8.0: `processInputBuffer` runs on an IO thread (`running_tid` is not the main
/// thread's, networking.c) and its `processMultibulkBuffer` calls the same
/// `createStringObject` (`sdsnewlen` and `createObject` underneath, which the pool calls
/// directly for a large argument), which allocate through zmalloc (thread-safe: each
/// thread counts its memory in its own slot, zmalloc.c) and set no field from server state
/// (`createObject` sets `lru` to 0). The objects are new, so nothing else refers to them
/// until they are handed over through a channel, which orders their writes before the main
/// thread's reads.
pub struct ArgPool {
    /// The objects in the order built; a taken one is null.
    pub(crate) objects: Vec<*mut robj>,
}

// SAFETY: the objects are owned by the pool alone (see the type); moving the pool to
// another thread moves that ownership, and `sdsnewlen`/`createObject`/`decrRefCount` of
// such an unshared string object are thread-safe as explained on the type.
unsafe impl Send for ArgPool {}

impl ArgPool {
    pub fn with_capacity(capacity: usize) -> ArgPool {
        ArgPool {
            objects: Vec::with_capacity(capacity),
        }
    }

    /// Objects built (taken or not).
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// Appends an argument (one string object, built as
    /// [`super::aof_client::AofClient::push_args`] builds it).
    pub fn push(&mut self, arg: &[u8]) {
        // SAFETY: createStringObject copies `arg` into a new object (see the type for why
        // any thread may call it).
        let obj = unsafe { bindings::createStringObject(arg.as_ptr().cast(), arg.len()) };
        self.objects.push(obj);
    }

    /// Appends the arguments `spans` of `window` (a parser's argument spans).
    pub fn push_spans(&mut self, window: &[u8], spans: &[std::ops::Range<usize>]) {
        for span in spans {
            self.push(&window[span.clone()]);
        }
    }

    /// Appends an argument of `len` bytes that `fill` writes in place, as
    /// [`super::aof_client::AofClient::push_filled_arg`] does; the argument is in the pool
    /// whether `fill` succeeds or not.
    pub fn push_filled<E>(
        &mut self,
        len: usize,
        fill: impl FnOnce(&mut UnwrittenBytes) -> Result<(), E>,
    ) -> Result<(), E> {
        // SAFETY: the object is new (see unwritten_string) and its bytes are all written
        // (`finish`) before the pool can hand it out; the pool frees it as any.
        unsafe {
            let (obj, bytes) = unwritten_string(len);
            self.objects.push(obj);
            let mut bytes = UnwrittenBytes::new(bytes);
            let filled = fill(&mut bytes);
            bytes.finish();
            filled
        }
    }

    /// Frees the objects, keeping the vector's room for the next batch.
    pub fn clear(&mut self) {
        for &obj in self.objects.iter().filter(|obj| !obj.is_null()) {
            // SAFETY: objects this pool alone owns (see the type), released once.
            unsafe { bindings::decrRefCount(obj) };
        }
        self.objects.clear();
    }

    /// Cache hints for the objects `args` (not taken yet): the reading thread wrote them
    /// on another core, so the main thread's first touch of each would otherwise wait for
    /// the line to come over. Each object's header and the start of its string (an
    /// embstr's string follows its header in the same allocation) are hinted.
    pub fn hint(&self, args: std::ops::Range<usize>) {
        for &obj in self.objects.get(args).unwrap_or(&[]) {
            super::prefetch::hint(obj.cast());
            super::prefetch::hint(obj.cast::<u8>().wrapping_add(64));
        }
    }

    /// The bytes of object `index`, unless taken (every object is a raw or embstr string).
    pub fn arg(&self, index: usize) -> Option<&[u8]> {
        let obj = *self.objects.get(index)?;
        if obj.is_null() {
            return None;
        }
        // SAFETY: an object this pool owns and nothing modifies while it is borrowed.
        match unsafe { super::object::string_value(obj) } {
            super::object::StringValue::Bytes(bytes) => Some(bytes),
            super::object::StringValue::Int(_) => None,
        }
    }
}

impl Drop for ArgPool {
    fn drop(&mut self) {
        for &obj in self.objects.iter().filter(|obj| !obj.is_null()) {
            // SAFETY: objects this pool alone owns (see the type), released once.
            unsafe { bindings::decrRefCount(obj) };
        }
    }
}
