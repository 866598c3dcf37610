//! The files in `appenddirname`: naming, the manifest on disk, open/upgrade/delete.

use crate::glue::{bindings, sds, server};

const MANIFEST_NAME_SUFFIX: &[u8] = b".manifest";
const TEMP_FILE_NAME_PREFIX: &[u8] = b"temp-";

/// Upstream's `<appendfilename>.manifest` (MANIFEST_NAME_SUFFIX).
pub fn manifest_file_name() -> bindings::sds {
    let mut name = server::aof_filename().to_vec();
    name.extend_from_slice(MANIFEST_NAME_SUFFIX);
    sds::new(&name)
}

/// The manifest is written under this name, then renamed over [`manifest_file_name`].
pub fn temp_manifest_file_name() -> bindings::sds {
    let mut name = TEMP_FILE_NAME_PREFIX.to_vec();
    name.extend_from_slice(server::aof_filename());
    name.extend_from_slice(MANIFEST_NAME_SUFFIX);
    sds::new(&name)
}
