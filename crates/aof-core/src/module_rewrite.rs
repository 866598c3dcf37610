//! What the command-form rewrite does with a module type's value.
//!
//! A module value is written by its type's own `aof_rewrite` callback. `RM_CreateDataType`
//! does not require one, and a key written as nothing would be lost once the new BASE
//! replaces the old files: so a type without the callback fails the rewrite, with a line
//! naming the type and the key, and the current BASE/INCR stay in charge. (Upstream's
//! child calls the NULL pointer and dies by SIGSEGV, which also keeps the old files, with
//! no word of why.) With the RDB preamble the type's RDB form is used and none of this
//! applies.

/// How the rewrite goes on after a module value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Written: on to the next key.
    Written,
    /// The callback reported an error (the rio holds it): the rewrite fails, as
    /// upstream's does, with no line of its own.
    Failed,
    /// No callback: the rewrite fails with [`no_callback_line`].
    FailedNoCallback,
}

/// The verdict on what the type's callback did: `None` when the type has none (nothing
/// was called), else whether it reported no error.
pub fn verdict(callback: Option<bool>) -> Verdict {
    match callback {
        Some(true) => Verdict::Written,
        Some(false) => Verdict::Failed,
        None => Verdict::FailedNoCallback,
    }
}

/// The warning a rewrite fails with when a key's module type has no `aof_rewrite`
/// callback; names and key as bytes, exactly as they are.
pub fn no_callback_line(type_name: &[u8], key: &[u8], db: i32) -> Vec<u8> {
    let mut line = b"The module type ".to_vec();
    line.extend_from_slice(type_name);
    line.extend_from_slice(b" has no AOF rewrite callback: key '");
    line.extend_from_slice(key);
    line.extend_from_slice(
        format!(
            "' (db {db}) cannot be rewritten as commands, so this AOF rewrite fails and the \
             current AOF stays in use (with aof-use-rdb-preamble yes, the type's RDB form is \
             used instead)"
        )
        .as_bytes(),
    );
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_callback_that_wrote_lets_the_rewrite_go_on() {
        assert_eq!(verdict(Some(true)), Verdict::Written);
        assert_eq!(verdict(Some(false)), Verdict::Failed);
        assert_eq!(verdict(None), Verdict::FailedNoCallback);
    }

    #[test]
    fn the_line_names_the_type_the_key_and_the_db() {
        let line = no_callback_line(b"blkonkey1", b"k\xff1", 3);
        assert_eq!(
            line,
            b"The module type blkonkey1 has no AOF rewrite callback: key 'k\xff1' (db 3) \
              cannot be rewritten as commands, so this AOF rewrite fails and the current AOF \
              stays in use (with aof-use-rdb-preamble yes, the type's RDB form is used \
              instead)"
                .to_vec()
        );
    }
}
