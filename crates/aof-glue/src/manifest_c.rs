//! Building and editing upstream's C manifest (`aofManifest`, `aofInfo`, adlist lists) in
//! place: callers such as redis-check-aof, debug.c and the rewrite done-handler keep
//! pointers into these structures, so they are modified, never rebuilt. Every allocation
//! comes from Redis's allocator, since C code frees them.

use super::bindings::{self, aofInfo, aofManifest, list};
use super::{adlist, sds};

use aof_core::aof_manifest::{Entry, Manifest};
use std::ffi::c_void;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};

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
/// `ai` must point to a live aofInfo made by [`info_create`] (zcalloc'd, `file_name` NULL
/// or an sds it owns) that no list holds and nothing uses afterwards.
pub unsafe fn info_free(ai: *mut aofInfo) {
    // SAFETY: `ai` was made by info_create (zcalloc) and its `file_name` is NULL or an sds
    // it owns; the caller gives both up (`# Safety`).
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
/// `ai` must point to a live aofInfo (`file_name` NULL or a live sds) that nothing modifies
/// during the call.
pub unsafe fn entry_of(ai: *const aofInfo) -> Entry {
    // SAFETY: `ai` and its `file_name` are live and unmodified during this call (the
    // caller's `# Safety`); the fields are copied before it returns.
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
/// `ai` must point to a live aofInfo that nothing modifies during the call.
pub unsafe fn info_dup(ai: *const aofInfo) -> *mut aofInfo {
    // SAFETY: `ai` is a live aofInfo, unmodified during this call (the caller's
    // `# Safety`), as entry_of requires.
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
/// `am` must point to a live manifest made by [`manifest_create`] (or [`manifest_from`])
/// or [`manifest_dup`], which nothing uses afterwards: zcalloc'd, `base_aof_info` NULL or
/// an aofInfo it owns, lists NULL or lists whose `free` method is `list_free_entry`.
pub unsafe fn manifest_free(am: *mut aofManifest) {
    // SAFETY: the caller gives up `am` and all it owns (`# Safety`): info_free takes the
    // base entry, listRelease frees each list and, through list_free_entry, its entries,
    // and zfree the zcalloc'd manifest.
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

/// The entries of a list of `aofInfo` values, in list order.
///
/// # Safety
/// `l` must point to a live adlist `list` of live `aofInfo` values that nothing modifies
/// during the call.
pub unsafe fn list_entries(l: *const list) -> Vec<Entry> {
    entries_of(l)
}

fn entries_of(l: *const list) -> Vec<Entry> {
    // SAFETY: a live manifest list (list_entries' contract) of aofInfo values, read only.
    unsafe { adlist::values(l, adlist::End::Head) }
        // SAFETY: every value of a manifest list is a live aofInfo.
        .map(|value| unsafe { entry_of(value as *const aofInfo) })
        .collect()
}

/// The model of a C manifest.
///
/// # Safety
/// `am` must point to a live manifest that nothing modifies during the call: base entry
/// NULL or a live aofInfo, both lists non-NULL lists of live aofInfo values (true of every
/// manifest this module makes).
pub unsafe fn model_of(am: *const aofManifest) -> Manifest {
    // SAFETY: `am`, its base entry and both lists (non-NULL, which entries_of needs) are
    // live and unmodified during this call (the caller's `# Safety`); all is copied.
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
/// `am` must point to a live manifest that nothing modifies during the call, whose lists
/// are non-NULL with `list_dup_entry` as their `dup` method (true of every manifest this
/// module makes).
pub unsafe fn manifest_dup(am: *const aofManifest) -> *mut aofManifest {
    // SAFETY: `am` is live and unmodified during this call, its lists non-NULL with
    // list_dup_entry as dup method (the caller's `# Safety`): listDup copies each entry
    // through info_dup, so the copy shares nothing with `am`.
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

/// The replication offsets recorded for an INCR file (-1: unknown).
pub struct IncrOffsets {
    pub start_offset: i64,
    pub end_offset: i64,
}

/// A live C manifest edited in place, borrowed for `'a`: a handle cannot outlive what
/// keeps the manifest alive (the owner it was taken from, or the call that lent it), and
/// edits take `&mut self`, so no two edits, and no edit and read, overlap.
pub struct ManifestMut<'a> {
    am: NonNull<aofManifest>,
    _borrow: PhantomData<&'a mut aofManifest>,
}

impl<'a> ManifestMut<'a> {
    /// # Safety
    /// `am` must be a live manifest that nothing but this handle reads or edits for `'a`.
    pub unsafe fn from_raw(am: *mut aofManifest) -> ManifestMut<'a> {
        super::process::assert(!am.is_null(), c"am != NULL");
        ManifestMut {
            // SAFETY: checked non-null just above.
            am: unsafe { NonNull::new_unchecked(am) },
            _borrow: PhantomData,
        }
    }

    pub fn as_ptr(&self) -> *mut aofManifest {
        self.am.as_ptr()
    }

    fn am(&mut self) -> &mut aofManifest {
        // SAFETY: live and read or edited only through this handle for 'a (constructor
        // contract); the &mut borrow of the handle makes this the only reference.
        unsafe { self.am.as_mut() }
    }

    fn am_ref(&self) -> &aofManifest {
        // SAFETY: as for `am`, shared.
        unsafe { self.am.as_ref() }
    }

    pub fn model(&self) -> Manifest {
        // SAFETY: live manifest (see the type).
        unsafe { model_of(self.as_ptr()) }
    }

    pub fn set_dirty(&mut self) {
        self.am().dirty = 1;
    }

    pub fn is_dirty(&self) -> bool {
        self.am_ref().dirty != 0
    }

    pub fn clear_dirty(&mut self) {
        self.am().dirty = 0;
    }

    pub fn bump_base_seq(&mut self) -> i64 {
        self.am().curr_base_file_seq += 1;
        self.am().curr_base_file_seq
    }

    pub fn bump_incr_seq(&mut self) -> i64 {
        self.am().curr_incr_file_seq += 1;
        self.am().curr_incr_file_seq
    }

    pub fn set_curr_base_seq(&mut self, seq: i64) {
        self.am().curr_base_file_seq = seq;
    }

    /// The current BASE turns HISTORY (first in the history list).
    pub fn demote_base_to_history(&mut self) {
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

    /// Replaces the BASE entry (freeing any previous one).
    pub fn set_base(&mut self, entry: &Entry) {
        let old = self.am().base_aof_info;
        if !old.is_null() {
            // SAFETY: the old base is owned by the manifest and dropped from it here.
            unsafe { info_free(old) };
        }
        self.am().base_aof_info = info_from(entry);
    }

    /// Appends an INCR entry.
    pub fn push_incr(&mut self, entry: &Entry) {
        let ai = info_from(entry);
        // SAFETY: the list takes ownership of the new entry.
        unsafe { bindings::listAddNodeTail(self.am().incr_aof_list, ai as *mut c_void) };
    }

    /// The BASE entry's file name as upstream's functions return it: the sds the manifest
    /// owns (C callers use it until they next edit or free the manifest). None without a
    /// BASE.
    pub fn base_name_raw(&self) -> Option<bindings::sds> {
        let base = self.am_ref().base_aof_info;
        // SAFETY: a live manifest's base entry is NULL or a live aofInfo.
        (!base.is_null()).then(|| unsafe { (*base).file_name })
    }

    pub fn incr_len(&self) -> usize {
        // SAFETY: live list.
        unsafe { super::adlist::len(self.am_ref().incr_aof_list) }
    }

    pub fn history_len(&self) -> usize {
        // SAFETY: live list.
        unsafe { super::adlist::len(self.am_ref().history_aof_list) }
    }

    /// The last INCR entry's file name as upstream's functions return it (the sds the
    /// manifest owns, as [`ManifestMut::base_name_raw`]), if any.
    pub fn last_incr_name_raw(&self) -> Option<bindings::sds> {
        // SAFETY: live list of aofInfo values.
        unsafe {
            super::adlist::last_value(self.am_ref().incr_aof_list)
                .map(|v| (*(v as *mut aofInfo)).file_name)
        }
    }

    /// Runs `f` on the offsets of the last INCR entry and stores them back, marking the
    /// manifest dirty when `f` returns true. None when there is no INCR entry. Only the
    /// offsets are lent: the entry's file name is a pointer the manifest owns.
    pub fn update_last_incr(&mut self, f: impl FnOnce(&mut IncrOffsets) -> bool) -> Option<()> {
        // SAFETY: a live manifest's INCR list is a live adlist of live aofInfo values (see
        // the type), edited only through this handle, borrowed mutably for the call.
        let info = unsafe {
            let last = super::adlist::last_value(self.am().incr_aof_list)?;
            &mut *(last as *mut aofInfo)
        };
        let mut offsets = IncrOffsets {
            start_offset: info.start_offset,
            end_offset: info.end_offset,
        };
        let changed = f(&mut offsets);
        info.start_offset = offsets.start_offset;
        info.end_offset = offsets.end_offset;
        if changed {
            self.am().dirty = 1;
        }
        Some(())
    }

    /// Moves every INCR entry but the last `keep_last` ones to the front of the history
    /// list as HISTORY, newest first (upstream walks the INCR list from its tail).
    pub fn move_incr_to_history(&mut self, keep_last: usize) {
        // SAFETY: live lists; each node is unlinked from the INCR list (which frees its
        // entry) after a HISTORY copy has been added.
        unsafe {
            let mut nodes = adlist::nodes(self.am().incr_aof_list, adlist::End::Tail);
            for _ in 0..keep_last {
                super::process::assert(nodes.next().is_some(), c"ln != NULL");
            }
            for node in nodes {
                let ai = (*node).value as *mut aofInfo;
                super::process::assert(
                    (*ai).file_type == bindings::AOF_FILE_TYPE_INCR,
                    c"ai->file_type == AOF_FILE_TYPE_INCR",
                );
                let hist = info_dup(ai);
                (*hist).file_type = bindings::AOF_FILE_TYPE_HIST;
                bindings::listAddNodeHead(self.am().history_aof_list, hist as *mut c_void);
                bindings::listDelNode(self.am().incr_aof_list, node);
            }
        }
    }

    /// Removes every HISTORY entry, giving each file name to `f` first.
    pub fn drain_history(&mut self, mut f: impl FnMut(&[u8])) {
        // SAFETY: live list of HISTORY aofInfo values; each node is unlinked (freeing its
        // entry) after `f` has seen the name.
        unsafe {
            let l = self.am().history_aof_list;
            for node in adlist::nodes(l, adlist::End::Head) {
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

/// Whether [`with_server_manifest`] is lending the server's manifest (process-wide, as
/// `aof_buf`'s flag is).
static SERVER_MANIFEST_LENT: AtomicBool = AtomicBool::new(false);

fn server_manifest_not_lent() {
    super::process::assert(
        !SERVER_MANIFEST_LENT.load(Ordering::Relaxed),
        c"server.aof_manifest is not replaced or lent twice while lent",
    );
}

/// Runs `f` with the server's manifest for reading and in-place edits. The handle cannot
/// leave `f`, and nothing can free the manifest under it: replacing the server's
/// manifest, or lending it again, while `f` runs aborts the process. Aborts, as upstream
/// asserts, when the server has no manifest.
pub fn with_server_manifest<R>(f: impl FnOnce(&mut ManifestMut<'_>) -> R) -> R {
    server_manifest_not_lent();
    let am = super::server::aof_manifest();
    super::process::assert(!am.is_null(), c"server.aof_manifest != NULL");
    SERVER_MANIFEST_LENT.store(true, Ordering::Relaxed);
    // SAFETY: the server's manifest is live until replaced (install_as_server, which
    // aborts while it is lent); C code reaches it only through aof.c's functions, which
    // are these, on this thread.
    let result = f(&mut unsafe { ManifestMut::from_raw(am) });
    SERVER_MANIFEST_LENT.store(false, Ordering::Relaxed);
    result
}

/// A manifest this code owns: freed when dropped unless installed as the server's or
/// handed to C.
pub struct OwnedManifest(NonNull<aofManifest>);

impl OwnedManifest {
    /// `aofManifestCreate`: empty, with lists that own their entries.
    pub fn empty() -> OwnedManifest {
        // SAFETY: manifest_create never returns NULL (zcalloc aborts on OOM).
        OwnedManifest(unsafe { NonNull::new_unchecked(manifest_create()) })
    }

    /// A C manifest holding the model's entries.
    pub fn from_model(model: &Manifest) -> OwnedManifest {
        // SAFETY: as for `empty`.
        OwnedManifest(unsafe { NonNull::new_unchecked(manifest_from(model)) })
    }

    /// A copy of the server's manifest (upstream's `aofManifestDup(server.aof_manifest)`).
    pub fn copy_of_server() -> OwnedManifest {
        with_server_manifest(|am| {
            // SAFETY: the lent manifest is live; the copy is new (never NULL) and owned
            // here alone.
            OwnedManifest(unsafe { NonNull::new_unchecked(manifest_dup(am.as_ptr())) })
        })
    }

    pub fn editor(&mut self) -> ManifestMut<'_> {
        // SAFETY: owned here alone; the handle borrows `self` mutably.
        unsafe { ManifestMut::from_raw(self.0.as_ptr()) }
    }

    /// Makes this manifest the server's, freeing the previous one (upstream's
    /// `aofManifestFreeAndUpdate`). Aborts while the server's manifest is lent.
    pub fn install_as_server(self) {
        server_manifest_not_lent();
        // SAFETY: a live manifest that the server now owns alone, as upstream's
        // aofManifestFreeAndUpdate makes it.
        let old = unsafe { super::server::replace_aof_manifest(self.into_raw()) };
        if !old.is_null() {
            // SAFETY: the previous manifest belonged to the server alone (C code reaches
            // it only through server.aof_manifest, just replaced) and is not lent.
            unsafe { manifest_free(old) };
        }
    }

    /// Makes this manifest the server's without touching the previous pointer, as
    /// upstream's `aofLoadManifestFromDisk` does (`server.aof_manifest =
    /// aofManifestCreate()`): at start-up it is NULL, and DEBUG LOADAOF has just freed it
    /// itself (debug.c calls aofManifestFree(server.aof_manifest) first), so it may be
    /// dangling and must not be freed again. At worst a manifest leaks. Aborts while the
    /// server's manifest is lent.
    pub fn install_as_server_over_stale(self) {
        server_manifest_not_lent();
        // SAFETY: a live manifest that the server now owns alone.
        unsafe { super::server::replace_aof_manifest(self.into_raw()) };
    }

    /// Gives the manifest to C code, which frees it with `aofManifestFree`.
    pub fn into_raw(self) -> *mut aofManifest {
        let am = self.0.as_ptr();
        std::mem::forget(self);
        am
    }

    /// Takes ownership of a manifest from C.
    ///
    /// # Safety
    /// `am` must be a live manifest that nothing else refers to or frees afterwards.
    pub unsafe fn from_raw(am: *mut aofManifest) -> OwnedManifest {
        super::process::assert(!am.is_null(), c"am != NULL");
        // SAFETY: checked non-null just above.
        OwnedManifest(unsafe { NonNull::new_unchecked(am) })
    }
}

impl Drop for OwnedManifest {
    fn drop(&mut self) {
        // SAFETY: owned here alone and never installed or given away (both forget self).
        unsafe { manifest_free(self.0.as_ptr()) }
    }
}
