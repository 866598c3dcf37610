//! AOF rewrite: the forked child writes a new BASE while the parent opens a new INCR.

use crate::core::rewrite_policy::{RewriteBackoff, RewriteDecision};
use crate::glue::log::Level;
use crate::glue::server;
use crate::server_log;
use std::sync::Mutex;

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
