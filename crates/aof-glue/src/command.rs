//! Commands of the command table as the loader runs them, and when a module's may have
//! been freed.

use super::bindings::{self, redisCommand};
use super::process;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counts the moments at which a module's command may have been freed: every command run
/// (MODULE UNLOAD frees the module's commands, `moduleUnregisterCommands`) and every round
/// of serving other clients while loading. Process-wide, as `aof_buf`'s flag is.
static COMMAND_TABLE_EPOCH: AtomicU64 = AtomicU64::new(0);

/// The command table may have changed: a module's [`Command`] looked up before is stale.
pub fn command_table_may_change() {
    COMMAND_TABLE_EPOCH.fetch_add(1, Ordering::Relaxed);
}

/// A command found in the command table. The server's own commands live for the whole
/// process: upstream builds them once at start-up (`populateCommandTable`) and renames
/// them only from the configuration file, before loading; only a module's commands are
/// ever freed (`moduleUnregisterCommands`, on MODULE UNLOAD, which an AOF may hold). So a
/// module's command is usable only until the next command runs (or clients are served),
/// and every use checks that, aborting rather than reading a freed command.
#[derive(Clone, Copy)]
pub struct Command {
    cmd: *mut redisCommand,
    native: bool,
    epoch: u64,
}

impl Command {
    /// # Safety
    /// `cmd` must be a command of the table, just looked up.
    pub(crate) unsafe fn found(cmd: *mut redisCommand) -> Command {
        Command {
            cmd,
            // SAFETY: just looked up, so live.
            native: unsafe { (*cmd).module_cmd.is_null() },
            epoch: COMMAND_TABLE_EPOCH.load(Ordering::Relaxed),
        }
    }

    /// The command, checked live (see the type).
    #[inline]
    pub(crate) fn get(&self) -> &redisCommand {
        process::assert(
            self.native || self.epoch == COMMAND_TABLE_EPOCH.load(Ordering::Relaxed),
            c"a module command is not used after the command table may have changed",
        );
        // SAFETY: a native command lives for the process; a module's was looked up since
        // the last moment the table could change (checked above).
        unsafe { &*self.cmd }
    }

    /// The table's pointer to the command (the client's `cmd` and `lastcmd` hold it).
    #[inline]
    pub(crate) fn as_ptr(&self) -> *mut redisCommand {
        self.cmd
    }

    #[inline]
    fn proc_address(&self) -> usize {
        self.get().proc_.map_or(0, |f| f as usize)
    }

    #[inline]
    pub fn is_multi(&self) -> bool {
        self.proc_address() == bindings::multiCommand as *const () as usize
    }

    #[inline]
    pub fn is_exec(&self) -> bool {
        self.proc_address() == bindings::execCommand as *const () as usize
    }

    /// Whether `argc` arguments (the name included) fit the command's arity, as
    /// `processCommand` checks before running anything a client sends.
    pub fn accepts_argc(&self, argc: usize) -> bool {
        let arity = i64::from(self.get().arity);
        let argc = argc as i64;
        if arity > 0 {
            argc == arity
        } else {
            argc >= -arity
        }
    }

    /// Whether the command is one of the server's own (not a module's), which may be
    /// looked up once and reused for the whole load (see the type).
    pub fn is_native(&self) -> bool {
        self.native
    }

    /// Whether the command is found by its name alone, whatever the arguments after it:
    /// neither a container (`CONFIG` without arguments) nor a subcommand (`CONFIG|SET`,
    /// which a lookup of the same name with other arguments would not return).
    pub fn is_found_by_name_alone(&self) -> bool {
        let cmd = self.get();
        cmd.subcommands_dict.is_null() && cmd.parent.is_null()
    }
}
