//! AOF rewrite: the forked child writes a new BASE while the parent opens a new INCR.

use crate::core::rewrite_policy::{RewriteBackoff, RewriteDecision};
use crate::glue::client::Client;
use crate::glue::log::Level;
use crate::glue::{bindings, c_aof, runtime, server, sys};
use crate::server_log;
use std::sync::Mutex;

const C_OK: i32 = bindings::C_OK as i32;
const CHILD_TYPE_AOF: i32 = bindings::CHILD_TYPE_AOF as i32;

/// The back-off state across cron calls (upstream keeps it in two function statics).
static BACKOFF: Mutex<RewriteBackoff> = Mutex::new(RewriteBackoff::new());

/// Upstream's `aofRewriteLimited`: whether an automatic rewrite must wait after repeated
/// failures. Starting a pause is logged.
pub fn rewrite_limited() -> bool {
    let (failures, now) = server::with(|s| (s.stat_aofrw_consecutive_failures, s.unixtime));
    let decision = BACKOFF
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .decide(failures, now);
    match decision {
        RewriteDecision::Allowed => false,
        RewriteDecision::Limited => true,
        RewriteDecision::NewlyLimited { minutes } => {
            server_log!(
                Level::Warning,
                "Background AOF rewrite has repeatedly failed and triggered the limit, will \
                 retry in {minutes} minutes"
            );
            true
        }
    }
}

/// Upstream's `aofRemoveTempFile`: the rewrite child's temporary files, removed in the
/// background (they can be large).
pub fn remove_temp_files(child_pid: libc::pid_t) {
    for name in [
        format!("temp-rewriteaof-bg-{child_pid}.aof"),
        format!("temp-rewriteaof-{child_pid}.aof"),
    ] {
        let _ = sys::bg_unlink(name.as_bytes());
    }
}

/// Upstream's `bgrewriteaofCommand`.
pub fn bgrewriteaof_command(client: &Client) {
    let (child_type, in_exec) = server::with(|s| (s.child_type, s.in_exec));
    if child_type == CHILD_TYPE_AOF {
        client.reply_error(c"Background append only file rewriting already in progress");
    } else if runtime::has_active_child_process() || in_exec != 0 {
        server::with(|s| {
            s.aof_rewrite_scheduled = 1;
            // A rewrite asked for by hand runs as soon as possible, past any back-off.
            s.stat_aofrw_consecutive_failures = 0;
        });
        client.reply_status(c"Background append only file rewriting scheduled");
    } else if c_aof::rewrite_background() == C_OK {
        client.reply_status(c"Background append only file rewriting started");
    } else {
        client.reply_error(
            c"Can't execute an AOF background rewriting. Please check the server logs for more information.",
        );
    }
}
