//! Upstream's doubly linked `list` (adlist.h), whose accessors are macros.

use super::bindings::{list, listNode};
use std::ffi::c_void;

/// `listLength(l)`.
///
/// # Safety
/// `l` must point to a live adlist `list` (made by listCreate or listDup, not released).
pub unsafe fn len(l: *const list) -> usize {
    // SAFETY: `l` is a live list (the caller's `# Safety`); `len` is a plain field of it.
    unsafe { (*l).len as usize }
}

/// `listNodeValue(listLast(l))`, or None for an empty list.
///
/// # Safety
/// `l` must point to a live adlist `list` (made by listCreate or listDup, not released).
pub unsafe fn last_value(l: *const list) -> Option<*mut c_void> {
    // SAFETY: `l` is a live list (the caller's `# Safety`), so its `tail` is NULL or a node
    // adlist.c allocated and keeps until it is unlinked.
    unsafe { (*l).tail.as_ref().map(|node| node.value) }
}

/// Which end a walk of a list starts from (adlist's `AL_START_HEAD` / `AL_START_TAIL`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Head,
    Tail,
}

/// A list's nodes from one end to the other, as adlist's `listNext` hands them out: the
/// next node is read before a node is handed out, so the caller may unlink and free the
/// node it holds (`listDelNode`) and go on.
pub struct Nodes {
    next: *mut listNode,
    from: End,
}

/// The nodes of `l` from `from` on.
///
/// # Safety
/// `l` must point to a live adlist `list`; until the walk ends, the nodes not handed out
/// yet must stay linked and live (the one handed out may be unlinked and freed).
pub unsafe fn nodes(l: *const list, from: End) -> Nodes {
    // SAFETY: `l` is a live list (the caller's `# Safety`); `head` and `tail` are NULL or
    // nodes of it.
    let first = unsafe {
        match from {
            End::Head => (*l).head,
            End::Tail => (*l).tail,
        }
    };
    Nodes { next: first, from }
}

impl Iterator for Nodes {
    type Item = *mut listNode;

    fn next(&mut self) -> Option<*mut listNode> {
        let node = self.next;
        if node.is_null() {
            return None;
        }
        // SAFETY: `node` is a node not handed out yet, still linked and live (`nodes`'s
        // `# Safety`), so its links are the list's.
        self.next = unsafe {
            match self.from {
                End::Head => (*node).next,
                End::Tail => (*node).prev,
            }
        };
        Some(node)
    }
}

/// The values of `l`'s nodes (`listNodeValue`), from `from` on.
///
/// # Safety
/// As for [`nodes`], and no node is unlinked during the walk.
pub unsafe fn values(l: *const list, from: End) -> impl Iterator<Item = *mut c_void> {
    // SAFETY: `l` is a live list whose nodes stay linked and live for the walk (this fn's
    // `# Safety`); each node handed out is live when its value is read.
    unsafe { nodes(l, from) }.map(|node| unsafe { (*node).value })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A list of the values 1..=n (as pointers, never dereferenced) linked as adlist.c
    /// links them; the glue's tests do not link adlist.c, so the nodes are Rust's.
    struct TestList {
        list: Box<list>,
        _nodes: Vec<listNode>,
    }

    fn list_of(n: usize) -> TestList {
        // SAFETY: all-zero lists and nodes are empty ones (NULL links, no callbacks).
        // (The vector is not grown after the pointers below are taken, so they stay valid.)
        let mut nodes: Vec<listNode> = (0..n).map(|_| unsafe { std::mem::zeroed() }).collect();
        for (i, node) in nodes.iter_mut().enumerate() {
            node.value = (i + 1) as *mut c_void;
        }
        let ptrs: Vec<*mut listNode> = nodes.iter_mut().map(|n| n as *mut _).collect();
        for (i, &node) in ptrs.iter().enumerate() {
            // SAFETY: every pointer is one of the boxed nodes, live for the test.
            unsafe {
                (*node).prev = if i == 0 {
                    std::ptr::null_mut()
                } else {
                    ptrs[i - 1]
                };
                (*node).next = ptrs.get(i + 1).copied().unwrap_or(std::ptr::null_mut());
            }
        }
        // SAFETY: as above.
        let mut l: Box<list> = Box::new(unsafe { std::mem::zeroed() });
        l.head = ptrs.first().copied().unwrap_or(std::ptr::null_mut());
        l.tail = ptrs.last().copied().unwrap_or(std::ptr::null_mut());
        l.len = n as _;
        TestList {
            list: l,
            _nodes: nodes,
        }
    }

    /// adlist.c's listDelNode, without the free (the test owns the nodes).
    ///
    /// # Safety
    /// `node` is a node of the live list `l`.
    unsafe fn unlink(l: &mut list, node: *mut listNode) {
        // SAFETY: `node` and its neighbours are live nodes of `l` (this fn's `# Safety`).
        unsafe {
            match (*node).prev.as_mut() {
                Some(prev) => prev.next = (*node).next,
                None => l.head = (*node).next,
            }
            match (*node).next.as_mut() {
                Some(next) => next.prev = (*node).prev,
                None => l.tail = (*node).prev,
            }
            // What a freed node may hold: the walk must not read it again.
            (*node).next = 0xdead as *mut listNode;
            (*node).prev = 0xdead as *mut listNode;
        }
        l.len -= 1;
    }

    #[test]
    fn values_from_either_end() {
        for n in [0, 1, 3] {
            let t = list_of(n);
            let l: *const list = &*t.list;
            // SAFETY: a live list, left as it is during the walks.
            let (head, tail): (Vec<usize>, Vec<usize>) = unsafe {
                (
                    values(l, End::Head).map(|v| v as usize).collect(),
                    values(l, End::Tail).map(|v| v as usize).collect(),
                )
            };
            assert_eq!(head, (1..=n).collect::<Vec<_>>());
            assert_eq!(tail, (1..=n).rev().collect::<Vec<_>>());
            // SAFETY: as above.
            assert_eq!(unsafe { len(l) }, n);
        }
    }

    #[test]
    fn the_node_handed_out_may_be_unlinked() {
        for from in [End::Head, End::Tail] {
            let mut t = list_of(4);
            let l: *mut list = &mut *t.list;
            let mut seen = Vec::new();
            // SAFETY: a live list; each node is unlinked only once handed out, as `nodes`
            // allows.
            unsafe {
                for node in nodes(l, from) {
                    seen.push((*node).value as usize);
                    if ((*node).value as usize).is_multiple_of(2) {
                        unlink(&mut *l, node);
                    }
                }
            }
            let expected: Vec<usize> = match from {
                End::Head => vec![1, 2, 3, 4],
                End::Tail => vec![4, 3, 2, 1],
            };
            assert_eq!(seen, expected);
            // SAFETY: as above; nothing is unlinked now.
            let left: Vec<usize> = unsafe { values(l, End::Head).map(|v| v as usize).collect() };
            assert_eq!(left, [1, 3]);
            // SAFETY: as above.
            assert_eq!(unsafe { last_value(l) }, Some(3 as *mut c_void));
        }
    }
}
