//! Process-level exits that upstream's AOF takes: assertions, panics and the deliberate
//! `exit(1)` when the durability contract cannot be kept.

use super::bindings;
use std::ffi::CString;

/// Upstream's `serverPanic`: logs the crash report and aborts.
pub fn panic(message: &str) -> ! {
    let message = CString::new(message).unwrap_or_default();
    let file = CString::new(file!()).unwrap_or_default();
    // SAFETY: valid strings; the "%s" format consumes exactly one argument.
    unsafe {
        bindings::_serverPanic(
            file.as_ptr(),
            line!() as i32,
            c"%s".as_ptr(),
            message.as_ptr(),
        )
    };
    std::process::abort()
}

/// Upstream's `serverAssert`: on failure, the same crash report as a C assertion. The
/// check is inlined at each caller; the report is out of line (hot paths check often).
#[track_caller]
#[inline]
pub fn assert(condition: bool, expression: &std::ffi::CStr) {
    if !condition {
        assertion_failed(expression, std::panic::Location::caller());
    }
}

#[cold]
#[inline(never)]
fn assertion_failed(expression: &std::ffi::CStr, location: &std::panic::Location<'_>) -> ! {
    let file = CString::new(location.file()).unwrap_or_default();
    // SAFETY: valid strings for the duration of the call.
    unsafe { bindings::_serverAssert(expression.as_ptr(), file.as_ptr(), location.line() as i32) };
    std::process::abort()
}

/// `exit(status)` as upstream calls it: atexit handlers and stdio flushing included.
pub fn exit(status: i32) -> ! {
    // SAFETY: ends the process the way upstream's C code does.
    unsafe { libc::exit(status) }
}

/// Runs `handler` when the process exits through `exit()` (upstream's way out of a
/// failed load, among others), before stdio is flushed: `atexit(3)`.
pub fn at_exit(handler: extern "C" fn()) -> bool {
    // SAFETY: registers a function pointer that lives as long as the program.
    unsafe { libc::atexit(handler) == 0 }
}
