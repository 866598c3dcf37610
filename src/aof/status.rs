//! Upstream's loading statuses (`server.h`'s `AOF_OK` ... `AOF_BROKEN_RECOVERED`) as a Rust enum.
//! Only the `src/exports` skin turns them into upstream's ints, for C callers. A leaf:
//! it imports no other `aof` module, so `files` (sizes) and `load_file`/`load` (loading)
//! share it without importing each other.

/// How loading (a file, or the whole AOF) ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadStatus {
    /// `AOF_OK`.
    Ok,
    /// `AOF_NOT_EXIST`: no such file (or, for the whole AOF, no manifest entries).
    NotExist,
    /// `AOF_EMPTY`: the file (or every file) is empty.
    Empty,
    /// `AOF_OPEN_ERR`: the file exists but cannot be opened (or stat'ed).
    OpenErr,
    /// `AOF_FAILED`: loading failed (bad format, short file not forgiven, an unknown
    /// command, a read error, an RDB part that does not load...).
    Failed,
    /// `AOF_TRUNCATED`: a short file forgiven by `aof-load-truncated`.
    Truncated,
    /// `AOF_BROKEN_RECOVERED` (8.4): a corrupt tail forgiven by
    /// `aof-load-corrupt-tail-max-size`. Like `Truncated` for the files around it (fine as
    /// the last file, fatal otherwise), but `stopLoading` is told the load failed, as
    /// upstream tells it.
    BrokenRecovered,
}

impl LoadStatus {
    /// A file whose end was cut (or would have been): fine as the last file only.
    pub fn is_cut(self) -> bool {
        matches!(self, LoadStatus::Truncated | LoadStatus::BrokenRecovered)
    }
}

/// Why a file's size is unknown: the error of a size, which (unlike a [`LoadStatus`])
/// cannot say `Ok`. Upstream returns size 0 with the matching status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SizeUnknown {
    /// stat said ENOENT: `AOF_NOT_EXIST`.
    NotExist,
    /// stat failed otherwise: `AOF_OPEN_ERR`.
    OpenErr,
}

impl From<SizeUnknown> for LoadStatus {
    fn from(unknown: SizeUnknown) -> LoadStatus {
        match unknown {
            SizeUnknown::NotExist => LoadStatus::NotExist,
            SizeUnknown::OpenErr => LoadStatus::OpenErr,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_size_becomes_upstreams_status() {
        assert_eq!(
            LoadStatus::from(SizeUnknown::NotExist),
            LoadStatus::NotExist
        );
        assert_eq!(LoadStatus::from(SizeUnknown::OpenErr), LoadStatus::OpenErr);
    }
}
