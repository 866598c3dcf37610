//! The client a command came from, for replies.

use super::bindings::{self, client};
use std::ffi::CStr;

/// A live client handed to a command implementation.
pub struct Client(*mut client);

impl Client {
    /// # Safety
    /// `c` must be a live client for as long as the handle is used.
    pub unsafe fn from_raw(c: *mut client) -> Client {
        Client(c)
    }

    /// `-ERR <message>` (upstream's `addReplyError`).
    pub fn reply_error(&self, message: &CStr) {
        // SAFETY: live client (constructor contract), NUL-terminated message.
        unsafe { bindings::addReplyError(self.0, message.as_ptr()) }
    }

    /// `+<status>` (upstream's `addReplyStatus`).
    pub fn reply_status(&self, status: &CStr) {
        // SAFETY: live client (constructor contract), NUL-terminated status.
        unsafe { bindings::addReplyStatus(self.0, status.as_ptr()) }
    }
}
