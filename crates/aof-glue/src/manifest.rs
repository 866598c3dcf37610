//! Upstream's C representation of the manifest (`aofManifest` with lists of `aofInfo`),
//! shared with redis-check-aof, debug.c and server.c.

use super::bindings::{self, aofInfo, aofManifest, list};
use super::{adlist, server};

/// One manifest entry, read-only.
pub struct InfoView<'a> {
    pub file_name: &'a [u8],
    pub file_type: u32,
}

/// A manifest owned by C code, borrowed for reading.
#[derive(Clone, Copy)]
pub struct ManifestRef<'a> {
    am: &'a aofManifest,
}

/// # Safety
/// `info` must point to a live aofInfo whose `file_name` is NULL or a live sds; both stay
/// allocated and unmodified for `'a`.
unsafe fn view<'a>(info: *const aofInfo) -> InfoView<'a> {
    // SAFETY: `info` and its `file_name` are live and unmodified for 'a (the caller's
    // `# Safety`), so the field reads and the borrowed name are valid for 'a.
    unsafe {
        InfoView {
            file_name: super::sds::bytes((*info).file_name),
            file_type: (*info).file_type,
        }
    }
}

impl<'a> ManifestRef<'a> {
    /// # Safety
    /// `am` must point to a live manifest that nothing modifies or frees for `'a`.
    pub unsafe fn from_raw(am: *const aofManifest) -> ManifestRef<'a> {
        // SAFETY: `am` is live, unmodified and not freed for 'a (the caller's `# Safety`),
        // so a shared reference for 'a is sound.
        let am = unsafe { &*am };
        ManifestRef { am }
    }

    pub fn base(&self) -> Option<InfoView<'a>> {
        // SAFETY: a manifest's base entry is NULL or a valid aofInfo.
        (!self.am.base_aof_info.is_null()).then(|| unsafe { view(self.am.base_aof_info) })
    }

    fn entries(l: *mut list) -> Vec<InfoView<'a>> {
        if l.is_null() {
            return Vec::new();
        }
        // SAFETY: a live manifest list of aofInfo values, left as it is while borrowed.
        unsafe { adlist::values(l, adlist::End::Head) }
            // SAFETY: every value of a manifest list is a live aofInfo.
            .map(|value| unsafe { view(value as *const aofInfo) })
            .collect()
    }

    pub fn incr(&self) -> Vec<InfoView<'a>> {
        Self::entries(self.am.incr_aof_list)
    }

    /// The number of INCR entries (0 when the list is absent).
    pub fn incr_count(&self) -> usize {
        if self.am.incr_aof_list.is_null() {
            0
        } else {
            // SAFETY: a non-null list of a valid manifest.
            unsafe { adlist::len(self.am.incr_aof_list) }
        }
    }
}

pub const AOF_FILE_TYPE_BASE: u32 = bindings::AOF_FILE_TYPE_BASE;
pub const AOF_FILE_TYPE_INCR: u32 = bindings::AOF_FILE_TYPE_INCR;

/// Runs `f` on the offsets of the last INCR entry of the server's manifest, marking it dirty
/// when `f` returns true. Returns None when there is no INCR entry. Aborts (as upstream
/// asserts) when the server has no manifest.
pub fn update_last_incr(f: impl FnOnce(&mut super::manifest_c::IncrOffsets) -> bool) -> Option<()> {
    super::manifest_c::with_server_manifest(|am| am.update_last_incr(f))
}

/// The file name of the server manifest's last INCR entry.
pub fn server_last_incr_name() -> Option<Vec<u8>> {
    if server::aof_manifest().is_null() {
        return None;
    }
    super::manifest_c::with_server_manifest(|am| {
        // SAFETY: an entry's file name is a valid sds owned by the lent manifest.
        am.last_incr_name_raw()
            .map(|name| unsafe { super::sds::bytes(name) }.to_vec())
    })
}

/// A manifest owned by C code that Rust may both read and edit, borrowed for `'a` (the
/// call that lent it). A view borrows the handle shared and an editor borrows it
/// mutably, so the two never coexist.
pub struct ManifestHandle<'a> {
    am: *mut aofManifest,
    _borrow: std::marker::PhantomData<&'a mut aofManifest>,
}

impl<'a> ManifestHandle<'a> {
    /// # Safety
    /// `am` must be a valid manifest for `'a`, read and modified only through this handle
    /// meanwhile.
    pub unsafe fn from_raw(am: *mut aofManifest) -> ManifestHandle<'a> {
        ManifestHandle {
            am,
            _borrow: std::marker::PhantomData,
        }
    }

    pub fn as_ptr(&self) -> *mut aofManifest {
        self.am
    }

    /// A read-only view, valid while the handle is not borrowed for editing.
    pub fn view(&self) -> ManifestRef<'_> {
        // SAFETY: valid per the constructor's contract; the shared borrow of `self` keeps
        // an editor from existing while the view lives.
        unsafe { ManifestRef::from_raw(self.am) }
    }

    /// The same manifest, for in-place edits.
    pub fn editor(&mut self) -> super::manifest_c::ManifestMut<'_> {
        // SAFETY: valid per the constructor's contract; the mutable borrow of `self` makes
        // the editor the manifest's only user while it lives.
        unsafe { super::manifest_c::ManifestMut::from_raw(self.am) }
    }
}
