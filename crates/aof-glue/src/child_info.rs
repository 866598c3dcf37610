//! What the rewrite child tells the parent (the child-info pipe: INFO's progress) and the
//! modules (the persistence events around a save).

use super::bindings;

/// Progress report from the fork child to the parent (INFO shows it).
pub fn report_keys_done(keys: usize) {
    // SAFETY: child-side upstream function; the name is a literal.
    unsafe {
        bindings::sendChildInfo(
            bindings::CHILD_INFO_TYPE_CURRENT_INFO,
            keys,
            c"AOF rewrite".as_ptr() as *mut _,
        )
    }
}

/// `startSaving` / `stopSaving`: module events and INFO around a save.
pub fn start_saving() {
    // SAFETY: rdb.c's startSaving takes its flags by value and only picks the subevent
    // (from them and getpid() against server.pid) for moduleFireServerEvent; no pointer.
    unsafe { bindings::startSaving(bindings::RDBFLAGS_AOF_PREAMBLE as i32) }
}

pub fn stop_saving(success: bool) {
    // SAFETY: rdb.c's stopSaving takes `success` by value and only fires the module
    // persistence-ended or -failed event; no pointer.
    unsafe { bindings::stopSaving(success as i32) }
}
