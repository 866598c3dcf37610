//! Logging through upstream's `_serverLog`, so lines carry the same timestamp, pid, role
//! character and destination (logfile or stdout) as every other Redis log line, and honour
//! `verbosity` the way upstream's `serverLog` macro does: before formatting anything.

use super::bindings;
use std::ffi::CString;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Level {
    Debug = bindings::LL_DEBUG as i32,
    Verbose = bindings::LL_VERBOSE as i32,
    Notice = bindings::LL_NOTICE as i32,
    Warning = bindings::LL_WARNING as i32,
}

/// Whether a line at `level` would be written (upstream's `serverLog` test).
pub fn enabled(level: Level) -> bool {
    level as i32 >= super::server::verbosity()
}

/// Writes one log line. Upstream truncates at LOG_MAX_LEN; going through `_serverLog`
/// with "%s" keeps that. Bytes go out as they are (file names need not be UTF-8), except
/// that a C string ends at a NUL, exactly as upstream's "%s" would end there.
pub fn write(level: Level, message: impl AsRef<[u8]>) {
    if !enabled(level) {
        return;
    }
    let message = message.as_ref();
    let until_nul = message
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(message.len());
    let line = CString::new(&message[..until_nul]).unwrap_or_default();
    // SAFETY: both pointers are valid NUL-terminated strings for the duration of the call;
    // the format consumes exactly one string argument.
    unsafe { bindings::_serverLog(level as i32, c"%s".as_ptr(), line.as_ptr()) };
}

/// `server_log!(Level::Warning, "format {}", args)`: formats only when the level is enabled.
#[macro_export]
macro_rules! server_log {
    ($level:expr, $($arg:tt)*) => {{
        let level = $level;
        if $crate::log::enabled(level) {
            $crate::log::write(level, &format!($($arg)*));
        }
    }};
}

/// Builds a log line from text and raw bytes (file names), for lines that must show a
/// name exactly as upstream's "%s" shows it.
#[derive(Default)]
pub struct Line(Vec<u8>);

impl Line {
    pub fn new(text: &str) -> Line {
        Line(text.as_bytes().to_vec())
    }

    pub fn text(mut self, text: &str) -> Line {
        self.0.extend_from_slice(text.as_bytes());
        self
    }

    pub fn bytes(mut self, bytes: &[u8]) -> Line {
        self.0.extend_from_slice(bytes);
        self
    }

    pub fn write(self, level: Level) {
        write(level, &self.0);
    }
}
