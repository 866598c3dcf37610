//! The file a replay reads, as [`aof_core::block_reader`]'s source: large blocks, a window
//! of unconsumed bytes, and arguments too large for the window read straight into their
//! own strings (see [`crate::aof::load_file`]).

use aof_glue::sys::Errno;
use aof_glue::unwritten::UnwrittenBytes;
use std::fs::File;
use std::io::{ErrorKind, Read};

/// The loader's reader: the framer's window over an AOF file.
pub type BlockReader = aof_core::block_reader::BlockReader<FileSource>;

/// An AOF file, read with `read(2)`; a large argument is read into its new string's
/// bytes, never cleared first.
pub struct FileSource(pub File);

impl aof_core::block_reader::Source for FileSource {
    type Error = Errno;
    type Payload<'p> = UnwrittenBytes<'p>;

    #[inline]
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Errno> {
        loop {
            match self.0.read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(Errno::from_io_or_eio(&e)),
            }
        }
    }

    #[inline]
    fn read_into(&mut self, dest: &mut UnwrittenBytes<'_>) -> Result<usize, Errno> {
        loop {
            match dest.read_from(&self.0) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(Errno::from_io_or_eio(&e)),
            }
        }
    }

    #[inline]
    fn left(dest: &UnwrittenBytes<'_>) -> usize {
        dest.left()
    }

    #[inline]
    fn put(dest: &mut UnwrittenBytes<'_>, bytes: &[u8]) {
        dest.put(bytes);
    }

    #[inline]
    fn filled<'d>(dest: &'d UnwrittenBytes<'_>) -> &'d [u8] {
        dest.written()
    }
}
