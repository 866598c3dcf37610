//! Which jemalloc arena a thread allocates from. The loader's reading thread builds the
//! argument objects the main thread keeps in the dataset; from an arena of its own, those
//! objects and the main thread's would fill two sets of pages, each with its own holes
//! once values are replaced, and RSS would grow with `used_memory` unchanged (figures:
//! `bench/MEASUREMENTS.md`, "RSS after loading RDB base + INCR"). Bound to the main
//! thread's arena, the reading thread allocates from the same pages, as the one-thread
//! load does; jemalloc arenas are shared by threads whenever there are more threads than
//! arenas, so sharing is what jemalloc is built for (each thread keeps its own cache).

/// A jemalloc arena, as `thread.arena` numbers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arena(u32);

extern "C" {
    // shim.c: jemalloc's `thread.arena` control, -1 without jemalloc.
    fn redis_aof_thread_arena_get(arena: *mut u32) -> i32;
    fn redis_aof_thread_arena_set(arena: u32) -> i32;
}

impl Arena {
    /// The calling thread's arena; `None` when the build's allocator is not jemalloc.
    pub fn of_this_thread() -> Option<Arena> {
        let mut arena = 0u32;
        // SAFETY: the shim writes one unsigned through the pointer, a live local.
        let status = unsafe { redis_aof_thread_arena_get(&mut arena) };
        (status == 0).then_some(Arena(arena))
    }

    /// Makes the calling thread allocate from this arena from now on. What it allocated
    /// before stays where it is, and frees of it go to its own arena as always, so a
    /// failure changes nothing but where the next allocations come from.
    pub fn bind_this_thread(self) -> bool {
        // SAFETY: `thread.arena` with an arena number read from jemalloc itself.
        unsafe { redis_aof_thread_arena_set(self.0) == 0 }
    }
}

/// Hands the pages jemalloc holds dirty but unused back to the kernel: upstream's
/// `jemalloc_purge` (what `MEMORY PURGE` runs, and what upstream runs itself after it frees
/// a whole dataset); nothing without jemalloc. A load leaves such pages behind (the keys'
/// read buffers and the values built ahead and copied, freed as it goes), which jemalloc
/// would return only as they decay, seconds later: RSS after loading would count them.
pub fn purge_unused_pages() {
    // SAFETY: upstream's function, no arguments; it only asks jemalloc (`mallctl`
    // `arena.<all>.purge`) to purge its arenas, each under its own lock, touching no live
    // allocation (tests::jemalloc_purge_only_asks_jemalloc_to_purge reads zmalloc.c).
    unsafe {
        super::bindings::jemalloc_purge();
    }
}

#[cfg(test)]
mod tests {
    use super::Arena;
    use crate::upstream_text::{between, source};

    #[test]
    fn jemalloc_purge_only_asks_jemalloc_to_purge() {
        // The jemalloc build's definition (the first; the other returns 0).
        let purge = between(&source("zmalloc.c"), "int jemalloc_purge(void) {", "\n}");
        assert_eq!(
            purge,
            "int jemalloc_purge(void) { /* return all unused (reserved) pages to the OS */ \
             char tmp[32]; unsigned narenas = 0; size_t sz = sizeof(unsigned); \
             if (!je_mallctl(\"arenas.narenas\", &narenas, &sz, NULL, 0)) { \
             snprintf(tmp, sizeof(tmp), \"arena.%u.purge\", narenas); \
             if (!je_mallctl(tmp, NULL, 0, NULL, 0)) return 0; } return -1;"
        );
    }

    #[test]
    fn a_thread_bound_to_another_threads_arena_allocates_from_it() {
        // The unit tests link no jemalloc (the shim's reference to it is weak): here the
        // shim must say so. In the server, tests/load_thread.py checks the binding through
        // MEMORY MALLOC-STATS.
        let Some(main) = Arena::of_this_thread() else {
            assert!(
                !Arena(0).bind_this_thread(),
                "no jemalloc, yet binding worked"
            );
            return;
        };
        let other = std::thread::spawn(move || {
            let own = Arena::of_this_thread();
            let bound = main.bind_this_thread();
            (own, bound, Arena::of_this_thread())
        })
        .join()
        .unwrap();
        assert!(other.1, "binding failed");
        assert_eq!(other.2, Some(main), "own arena was {:?}", other.0);
    }
}
