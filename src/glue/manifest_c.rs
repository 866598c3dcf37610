//! Building and editing upstream's C manifest (`aofManifest`, `aofInfo`, adlist lists) in
//! place: callers such as redis-check-aof, debug.c and the rewrite done-handler keep
//! pointers into these structures, so they are modified, never rebuilt. Every allocation
//! comes from Redis's allocator, since C code frees them.

use super::bindings::{self, aofInfo, aofManifest, list, listNode};
use super::sds;
use aof_core::aof_manifest::{Entry, Manifest};
use std::ffi::c_void;

/// `aofInfoCreate`: a zeroed entry with unknown offsets.
pub fn info_create() -> *mut aofInfo {
    // SAFETY: zcalloc returns zeroed memory of the requested size (or aborts on OOM).
    unsafe {
        let ai = bindings::zcalloc(std::mem::size_of::<aofInfo>()) as *mut aofInfo;
        (*ai).start_offset = -1;
        (*ai).end_offset = -1;
        ai
    }
}

/// `aofInfoFree`.
///
/// # Safety
/// `ai` must be a live entry, not used afterwards.
pub unsafe fn info_free(ai: *mut aofInfo) {
    // SAFETY: per the caller's contract; file_name is NULL or an sds the entry owns.
    unsafe {
        if !(*ai).file_name.is_null() {
            bindings::sdsfree((*ai).file_name);
        }
        bindings::zfree(ai as *mut c_void);
    }
}

/// An entry as the pure model sees it.
///
/// # Safety
/// `ai` must be a live entry.
pub unsafe fn entry_of(ai: *const aofInfo) -> Entry {
    // SAFETY: per the caller's contract.
    unsafe {
        Entry {
            file_name: sds::bytes((*ai).file_name).to_vec(),
            file_seq: (*ai).file_seq,
            file_type: (*ai).file_type as u8,
            start_offset: (*ai).start_offset,
            end_offset: (*ai).end_offset,
        }
    }
}

/// A new C entry from the model.
pub fn info_from(entry: &Entry) -> *mut aofInfo {
    let ai = info_create();
    // SAFETY: `ai` is a fresh entry owned here.
    unsafe {
        (*ai).file_name = sds::new(&entry.file_name);
        (*ai).file_seq = entry.file_seq;
        (*ai).file_type = u32::from(entry.file_type);
        (*ai).start_offset = entry.start_offset;
        (*ai).end_offset = entry.end_offset;
    }
    ai
}

/// `aofInfoDup`.
///
/// # Safety
/// `ai` must be a live entry.
pub unsafe fn info_dup(ai: *const aofInfo) -> *mut aofInfo {
    // SAFETY: per the caller's contract.
    info_from(&unsafe { entry_of(ai) })
}

/// The list callbacks upstream installs: they free and copy `aofInfo` values.
extern "C" fn list_free_entry(item: *mut c_void) {
    // SAFETY: manifest lists hold only aofInfo values.
    unsafe { info_free(item as *mut aofInfo) }
}

extern "C" fn list_dup_entry(item: *mut c_void) -> *mut c_void {
    // SAFETY: manifest lists hold only aofInfo values.
    unsafe { info_dup(item as *const aofInfo) as *mut c_void }
}

fn entry_list() -> *mut list {
    // SAFETY: listCreate allocates an empty list; the methods are plain fields.
    unsafe {
        let l = bindings::listCreate();
        (*l).free = Some(list_free_entry);
        (*l).dup = Some(list_dup_entry);
        l
    }
}

/// `aofManifestCreate`: empty, with lists that own their entries.
pub fn manifest_create() -> *mut aofManifest {
    // SAFETY: zcalloc returns a zeroed manifest; its lists are created here.
    unsafe {
        let am = bindings::zcalloc(std::mem::size_of::<aofManifest>()) as *mut aofManifest;
        (*am).incr_aof_list = entry_list();
        (*am).history_aof_list = entry_list();
        am
    }
}

/// `aofManifestFree`.
///
/// # Safety
/// `am` must be a live manifest, not used afterwards.
pub unsafe fn manifest_free(am: *mut aofManifest) {
    // SAFETY: per the caller's contract; the lists free their entries.
    unsafe {
        if !(*am).base_aof_info.is_null() {
            info_free((*am).base_aof_info);
        }
        if !(*am).incr_aof_list.is_null() {
            bindings::listRelease((*am).incr_aof_list);
        }
        if !(*am).history_aof_list.is_null() {
            bindings::listRelease((*am).history_aof_list);
        }
        bindings::zfree(am as *mut c_void);
    }
}

/// A C manifest holding the model's entries.
pub fn manifest_from(model: &Manifest) -> *mut aofManifest {
    let am = manifest_create();
    // SAFETY: `am` is fresh and owned here; its lists take ownership of each entry.
    unsafe {
        if let Some(base) = &model.base {
            (*am).base_aof_info = info_from(base);
        }
        for e in &model.history {
            bindings::listAddNodeTail((*am).history_aof_list, info_from(e) as *mut c_void);
        }
        for e in &model.incr {
            bindings::listAddNodeTail((*am).incr_aof_list, info_from(e) as *mut c_void);
        }
        (*am).curr_base_file_seq = model.curr_base_file_seq;
        (*am).curr_incr_file_seq = model.curr_incr_file_seq;
    }
    am
}

fn entries_of(l: *const list) -> Vec<Entry> {
    let mut out = Vec::new();
    // SAFETY: manifest lists hold aofInfo values linked by valid nodes.
    unsafe {
        let mut node = (*l).head;
        while !node.is_null() {
            out.push(entry_of((*node).value as *const aofInfo));
            node = (*node).next;
        }
    }
    out
}

/// The model of a C manifest.
///
/// # Safety
/// `am` must be a live manifest.
pub unsafe fn model_of(am: *const aofManifest) -> Manifest {
    // SAFETY: per the caller's contract.
    unsafe {
        Manifest {
            base: (!(*am).base_aof_info.is_null()).then(|| entry_of((*am).base_aof_info)),
            history: entries_of((*am).history_aof_list),
            incr: entries_of((*am).incr_aof_list),
            curr_base_file_seq: (*am).curr_base_file_seq,
            curr_incr_file_seq: (*am).curr_incr_file_seq,
        }
    }
}

/// `aofManifestDup`.
///
/// # Safety
/// `am` must be a live manifest.
pub unsafe fn manifest_dup(am: *const aofManifest) -> *mut aofManifest {
    // SAFETY: per the caller's contract; listDup copies through the dup method.
    unsafe {
        let copy = bindings::zcalloc(std::mem::size_of::<aofManifest>()) as *mut aofManifest;
        (*copy).curr_base_file_seq = (*am).curr_base_file_seq;
        (*copy).curr_incr_file_seq = (*am).curr_incr_file_seq;
        (*copy).dirty = (*am).dirty;
        if !(*am).base_aof_info.is_null() {
            (*copy).base_aof_info = info_dup((*am).base_aof_info);
        }
        (*copy).incr_aof_list = bindings::listDup((*am).incr_aof_list);
        (*copy).history_aof_list = bindings::listDup((*am).history_aof_list);
        super::process::assert(
            !(*copy).incr_aof_list.is_null(),
            c"am->incr_aof_list != NULL",
        );
        super::process::assert(
            !(*copy).history_aof_list.is_null(),
            c"am->history_aof_list != NULL",
        );
        copy
    }
}

/// A live C manifest edited in place through safe methods.
pub struct ManifestMut(*mut aofManifest);

impl ManifestMut {
    /// # Safety
    /// `am` must be a live manifest that only this handle edits while it is used.
    pub unsafe fn from_raw(am: *mut aofManifest) -> ManifestMut {
        super::process::assert(!am.is_null(), c"am != NULL");
        ManifestMut(am)
    }

    pub fn as_ptr(&self) -> *mut aofManifest {
        self.0
    }

    // The handle stands for C memory it alone edits (see from_raw), like a cell: the
    // short-lived `&mut` never overlaps another one.
    #[allow(clippy::mut_from_ref)]
    fn am(&self) -> &mut aofManifest {
        // SAFETY: live and exclusively edited through this handle (constructor contract).
        unsafe { &mut *self.0 }
    }

    pub fn model(&self) -> Manifest {
        // SAFETY: live manifest.
        unsafe { model_of(self.0) }
    }

    pub fn set_dirty(&self) {
        self.am().dirty = 1;
    }

    pub fn is_dirty(&self) -> bool {
        self.am().dirty != 0
    }

    pub fn clear_dirty(&self) {
        self.am().dirty = 0;
    }

    pub fn bump_base_seq(&self) -> i64 {
        self.am().curr_base_file_seq += 1;
        self.am().curr_base_file_seq
    }

    pub fn bump_incr_seq(&self) -> i64 {
        self.am().curr_incr_file_seq += 1;
        self.am().curr_incr_file_seq
    }

    pub fn set_curr_base_seq(&self, seq: i64) {
        self.am().curr_base_file_seq = seq;
    }

    /// The current BASE turns HISTORY (first in the history list).
    pub fn demote_base_to_history(&self) {
        let base = self.am().base_aof_info;
        if base.is_null() {
            return;
        }
        // SAFETY: the base entry is live; the history list takes ownership of it.
        unsafe {
            super::process::assert(
                (*base).file_type == bindings::AOF_FILE_TYPE_BASE,
                c"am->base_aof_info->file_type == AOF_FILE_TYPE_BASE",
            );
            (*base).file_type = bindings::AOF_FILE_TYPE_HIST;
            bindings::listAddNodeHead(self.am().history_aof_list, base as *mut c_void);
        }
        self.am().base_aof_info = std::ptr::null_mut();
    }

    /// Replaces the BASE entry (freeing any previous one) and returns its file name,
    /// owned by the manifest.
    pub fn set_base(&self, entry: &Entry) -> bindings::sds {
        let old = self.am().base_aof_info;
        if !old.is_null() {
            // SAFETY: the old base is owned by the manifest and dropped from it here.
            unsafe { info_free(old) };
        }
        let ai = info_from(entry);
        self.am().base_aof_info = ai;
        // SAFETY: `ai` is live.
        unsafe { (*ai).file_name }
    }

    /// Appends an INCR entry and returns its file name, owned by the manifest.
    pub fn push_incr(&self, entry: &Entry) -> bindings::sds {
        let ai = info_from(entry);
        // SAFETY: the list takes ownership of the new entry.
        unsafe {
            bindings::listAddNodeTail(self.am().incr_aof_list, ai as *mut c_void);
            (*ai).file_name
        }
    }

    pub fn incr_len(&self) -> usize {
        // SAFETY: live list.
        unsafe { super::adlist::len(self.am().incr_aof_list) }
    }

    pub fn history_len(&self) -> usize {
        // SAFETY: live list.
        unsafe { super::adlist::len(self.am().history_aof_list) }
    }

    /// The last INCR entry's file name (owned by the manifest), if any.
    pub fn last_incr_name(&self) -> Option<bindings::sds> {
        // SAFETY: live list of aofInfo values.
        unsafe {
            super::adlist::last_value(self.am().incr_aof_list)
                .map(|v| (*(v as *mut aofInfo)).file_name)
        }
    }

    /// Moves every INCR entry but the last `keep_last` ones to the front of the history
    /// list as HISTORY, newest first (upstream walks the INCR list from its tail).
    pub fn move_incr_to_history(&self, keep_last: usize) {
        // SAFETY: live lists; each node is unlinked from the INCR list (which frees its
        // entry) after a HISTORY copy has been added.
        unsafe {
            let mut node: *mut listNode = (*self.am().incr_aof_list).tail;
            for _ in 0..keep_last {
                super::process::assert(!node.is_null(), c"ln != NULL");
                node = (*node).prev;
            }
            while !node.is_null() {
                let prev = (*node).prev;
                let ai = (*node).value as *mut aofInfo;
                super::process::assert(
                    (*ai).file_type == bindings::AOF_FILE_TYPE_INCR,
                    c"ai->file_type == AOF_FILE_TYPE_INCR",
                );
                let hist = info_dup(ai);
                (*hist).file_type = bindings::AOF_FILE_TYPE_HIST;
                bindings::listAddNodeHead(self.am().history_aof_list, hist as *mut c_void);
                bindings::listDelNode(self.am().incr_aof_list, node);
                node = prev;
            }
        }
    }

    /// Removes every HISTORY entry, giving each file name to `f` first.
    pub fn drain_history(&self, mut f: impl FnMut(&[u8])) {
        // SAFETY: live list of HISTORY aofInfo values; each node is unlinked (freeing its
        // entry) after `f` has seen the name.
        unsafe {
            let l = self.am().history_aof_list;
            while !(*l).head.is_null() {
                let node = (*l).head;
                let ai = (*node).value as *mut aofInfo;
                super::process::assert(
                    (*ai).file_type == bindings::AOF_FILE_TYPE_HIST,
                    c"ai->file_type == AOF_FILE_TYPE_HIST",
                );
                f(sds::bytes((*ai).file_name));
                bindings::listDelNode(l, node);
            }
        }
    }
}

/// Makes `am` the server's manifest, freeing the previous one (upstream's
/// `aofManifestFreeAndUpdate`).
pub fn replace_server_manifest(am: *mut aofManifest) {
    let old = super::server::replace_aof_manifest(am);
    if !old.is_null() {
        // SAFETY: the previous manifest belonged to the server alone and is unreachable now.
        unsafe { manifest_free(old) };
    }
}

/// The server's manifest for in-place edits. Panics (as upstream asserts) when absent.
pub fn server_manifest_mut() -> ManifestMut {
    let am = super::server::aof_manifest();
    // SAFETY: the server's manifest stays valid until replaced, which only the main thread
    // does, never while a handle is in use within one call.
    unsafe { ManifestMut::from_raw(am) }
}

/// A manifest this code owns (a working copy): freed when dropped unless installed.
pub struct OwnedManifest(ManifestMut);

impl OwnedManifest {
    /// A copy of the server's manifest (upstream's `aofManifestDup(server.aof_manifest)`).
    pub fn copy_of_server() -> OwnedManifest {
        let am = super::server::aof_manifest();
        super::process::assert(!am.is_null(), c"server.aof_manifest != NULL");
        // SAFETY: the server's manifest is live; the copy is new and owned here alone.
        unsafe { OwnedManifest(ManifestMut::from_raw(manifest_dup(am))) }
    }

    pub fn editor(&self) -> &ManifestMut {
        &self.0
    }

    /// Makes this copy the server's manifest (the previous one is freed).
    pub fn install_as_server(self) {
        let am = self.0.as_ptr();
        std::mem::forget(self);
        replace_server_manifest(am);
    }
}

impl Drop for OwnedManifest {
    fn drop(&mut self) {
        // SAFETY: owned here alone and never installed (install_as_server forgets self).
        unsafe { manifest_free(self.0.as_ptr()) }
    }
}
