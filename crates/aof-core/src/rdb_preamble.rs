//! The order of an RDB preamble's sections, as upstream's `rdbSaveRio` writes them for an
//! AOF BASE (`RDBFLAGS_AOF_PREAMBLE`, no replication info): the magic and version, the
//! info aux fields, the modules' aux fields meant for before the keys, the function
//! libraries, each db that holds keys (SELECTDB and RESIZEDB, then its keys), the
//! modules' aux fields meant for after the keys, EOF and the checksum. The checksum
//! covers every byte before it, so it comes last whatever else changes; the first section
//! that fails ends the preamble (the file is then thrown away).

/// One section of the preamble.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    /// `REDIS` and the four-digit RDB version.
    Magic,
    InfoAuxFields,
    /// `rdbSaveModulesAux(REDISMODULE_AUX_BEFORE_RDB)`.
    ModulesAuxBefore,
    Functions,
    /// A db with `keys` keys: SELECTDB, RESIZEDB and the keys.
    Db {
        index: i32,
        keys: u64,
    },
    /// `rdbSaveModulesAux(REDISMODULE_AUX_AFTER_RDB)`.
    ModulesAuxAfter,
    Eof,
    Checksum,
}

/// Writes the preamble of `dbnum` dbs, each section with `write` (false: it failed, and
/// nothing more is written); `keys_in(index)` is the number of keys of db `index` (a db
/// without keys has no section). Returns whether every section was written.
#[inline]
pub fn write_sections(
    dbnum: i32,
    mut keys_in: impl FnMut(i32) -> u64,
    mut write: impl FnMut(Section) -> bool,
) -> bool {
    use Section::*;
    [Magic, InfoAuxFields, ModulesAuxBefore, Functions]
        .into_iter()
        .all(&mut write)
        && (0..dbnum).all(|index| match keys_in(index) {
            0 => true,
            keys => write(Db { index, keys }),
        })
        && [ModulesAuxAfter, Eof, Checksum].into_iter().all(&mut write)
}

#[cfg(test)]
mod tests {
    use super::Section::*;
    use super::*;

    fn sections(dbs: &[u64], fail_at: Option<Section>) -> (bool, Vec<Section>) {
        let mut written = Vec::new();
        let done = write_sections(
            dbs.len() as i32,
            |index| dbs[index as usize],
            |section| {
                written.push(section);
                Some(section) != fail_at
            },
        );
        (done, written)
    }

    #[test]
    fn upstreams_order_with_the_dbs_that_hold_keys() {
        let (done, written) = sections(&[3, 0, 0, 7, 0], None);
        assert!(done);
        assert_eq!(
            written,
            [
                Magic,
                InfoAuxFields,
                ModulesAuxBefore,
                Functions,
                Db { index: 0, keys: 3 },
                Db { index: 3, keys: 7 },
                ModulesAuxAfter,
                Eof,
                Checksum
            ]
        );
    }

    #[test]
    fn an_empty_dataset_still_has_every_other_section() {
        let (done, written) = sections(&[0; 16], None);
        assert!(done);
        assert_eq!(
            written,
            [
                Magic,
                InfoAuxFields,
                ModulesAuxBefore,
                Functions,
                ModulesAuxAfter,
                Eof,
                Checksum
            ]
        );
    }

    #[test]
    fn the_first_failed_section_ends_the_preamble() {
        for fail in [Magic, Functions, Db { index: 1, keys: 2 }, Eof, Checksum] {
            let (done, written) = sections(&[1, 2, 3], Some(fail));
            assert!(!done);
            assert_eq!(written.last(), Some(&fail), "failing at {fail:?}");
            assert_eq!(written.iter().filter(|&&s| s == fail).count(), 1);
        }
    }
}
