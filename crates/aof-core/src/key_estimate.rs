//! How many keys (and keys with a TTL) replaying a RESP AOF file will create in each
//! database, estimated from the file's first bytes, so the loader can size each keyspace
//! once instead of letting it double (and rehash every key) as it grows.
//!
//! The estimate counts the keys (a command's first argument) per database that are alive
//! at the end of the sample (a `DEL`, `UNLINK` or `GETDEL` ends a key, a `PERSIST` its TTL)
//! and scales the count by the file's size over the sample's: exact for keys written by
//! name when the sample is the whole file, and right for the files rewrites and steady
//! write loads produce (their records look alike from start to end). A file whose sample
//! misleads (a burst of new keys first, then many commands on few keys; keys that expire
//! while loading) gets a larger table than it needs, bounded by [`MIN_KEY_RECORD_BYTES`]:
//! no more keys than the file could create. Such a table stays as large until Redis's cron
//! finds it under an eighth full, and its buckets count in `used_memory`.

use crate::command_reader::{CommandParser, Step};
use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};

/// The shortest record that can add a key: `*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n`.
pub const MIN_KEY_RECORD_BYTES: u64 = 26;

/// What replaying a file is expected to add to database `db`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyEstimate {
    pub db: i64,
    pub keys: u64,
    pub expires: u64,
}

/// Commands whose first argument is not a key (or that name none).
fn names_no_key(name: &[u8]) -> bool {
    const NO_KEY: [&[u8]; 9] = [
        b"select",
        b"multi",
        b"exec",
        b"function",
        b"script",
        b"flushall",
        b"flushdb",
        b"swapdb",
        b"ping",
    ];
    NO_KEY.iter().any(|n| name.eq_ignore_ascii_case(n))
}

/// Whether a command gives its key a time to live.
fn sets_ttl(args: &[&[u8]]) -> bool {
    const TTL_COMMANDS: [&[u8]; 7] = [
        b"pexpireat",
        b"pexpire",
        b"expireat",
        b"expire",
        b"setex",
        b"psetex",
        b"getex",
    ];
    let name = args[0];
    if TTL_COMMANDS.iter().any(|n| name.eq_ignore_ascii_case(n)) {
        return true;
    }
    name.eq_ignore_ascii_case(b"set")
        && args.iter().skip(3).any(|a| {
            [&b"ex"[..], b"px", b"exat", b"pxat"]
                .iter()
                .any(|o| a.eq_ignore_ascii_case(o))
        })
}

#[derive(Default)]
struct Counts {
    keys: HashSet<u64>,
    expires: HashSet<u64>,
}

/// Estimates, per database (in order of first use), from `sample`, the first bytes of a
/// RESP AOF file of `file_len` bytes (`sample.len() == file_len` for the whole file).
/// Commands cut by the sample's end, and a sample that is not RESP, count for nothing.
pub fn estimate_keys(sample: &[u8], file_len: u64) -> Vec<KeyEstimate> {
    let whole_file = sample.len() as u64 >= file_len;
    let hasher = RandomState::new();
    let mut dbs: Vec<(i64, Counts)> = Vec::new();
    let mut db = 0i64;
    let mut parser = CommandParser::new();
    let mut pos = 0usize;
    // Bytes of the commands counted (the scale's denominator).
    let mut counted = 0usize;
    let mut first_args: Vec<Vec<u8>> = Vec::new();
    loop {
        let window = &sample[pos..];
        let left = file_len.saturating_sub(pos as u64);
        let (consumed, ended) = match parser.parse_next(window, whole_file, left) {
            Step::Command { consumed, args } => {
                let mut all: Vec<&[u8]> = first_args.iter().map(Vec::as_slice).collect();
                all.extend(args.iter().map(|r| &window[r.clone()]));
                count(&mut dbs, &mut db, &all, &hasher);
                first_args.clear();
                (consumed, true)
            }
            Step::Partial { consumed, args } => {
                first_args.extend(args.iter().map(|r| window[r.clone()].to_vec()));
                (consumed, false)
            }
            Step::LargeArgument {
                consumed,
                args,
                len,
            } => {
                first_args.extend(args.iter().map(|r| window[r.clone()].to_vec()));
                let end = consumed + len + 2;
                if end > window.len() {
                    break;
                }
                // The payload itself is no key's name worth keeping.
                first_args.push(Vec::new());
                if parser.in_command() {
                    (end, false)
                } else {
                    let all: Vec<&[u8]> = first_args.iter().map(Vec::as_slice).collect();
                    count(&mut dbs, &mut db, &all, &hasher);
                    first_args.clear();
                    (end, true)
                }
            }
            Step::Annotation { consumed } => (consumed, true),
            Step::NeedMore { .. } | Step::End | Step::Error(_) => break,
        };
        pos += consumed;
        if ended {
            counted = pos;
        }
    }
    if counted == 0 {
        return Vec::new();
    }
    let limit = file_len / MIN_KEY_RECORD_BYTES;
    let scale = |n: usize| -> u64 {
        let scaled = if whole_file {
            n as u64
        } else {
            (n as u128 * u128::from(file_len) / counted as u128) as u64
        };
        scaled.min(limit)
    };
    dbs.into_iter()
        .map(|(db, c)| KeyEstimate {
            db,
            keys: scale(c.keys.len()),
            expires: scale(c.expires.len()),
        })
        .collect()
}

/// Commands that end every key they name.
fn deletes_keys(name: &[u8]) -> bool {
    [&b"del"[..], b"unlink", b"getdel"]
        .iter()
        .any(|n| name.eq_ignore_ascii_case(n))
}

fn count(dbs: &mut Vec<(i64, Counts)>, db: &mut i64, args: &[&[u8]], hasher: &RandomState) {
    let Some(&name) = args.first() else { return };
    if name.eq_ignore_ascii_case(b"select") {
        if let Some(n) = args
            .get(1)
            .and_then(|a| std::str::from_utf8(a).ok()?.parse().ok())
        {
            *db = n;
        }
        return;
    }
    if names_no_key(name) || args.len() < 2 {
        return;
    }
    let counts = match dbs.iter().position(|(d, _)| d == db) {
        Some(i) => &mut dbs[i].1,
        None => {
            dbs.push((*db, Counts::default()));
            &mut dbs.last_mut().expect("just pushed").1
        }
    };
    if deletes_keys(name) {
        let last = if name.eq_ignore_ascii_case(b"getdel") {
            2
        } else {
            args.len()
        };
        for key in &args[1..last.min(args.len())] {
            let key = hasher.hash_one(key);
            counts.keys.remove(&key);
            counts.expires.remove(&key);
        }
        return;
    }
    let key = hasher.hash_one(args[1]);
    counts.keys.insert(key);
    if sets_ttl(args) {
        counts.expires.insert(key);
    } else if name.eq_ignore_ascii_case(b"persist") {
        counts.expires.remove(&key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(args: &[&str]) -> Vec<u8> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend(format!("${}\r\n{}\r\n", a.len(), a).bytes());
        }
        out
    }

    fn file(records: &[Vec<&str>]) -> Vec<u8> {
        records.iter().flat_map(|r| record(r)).collect()
    }

    #[test]
    fn the_whole_file_gives_exact_counts_per_db() {
        let aof = file(&[
            vec!["SET", "a", "1"],
            vec!["SET", "b", "2"],
            vec!["INCR", "a"],
            vec!["PEXPIREAT", "b", "99"],
            vec!["SELECT", "3"],
            vec!["set", "c", "x", "PXAT", "5"],
            vec!["MULTI"],
            vec!["RPUSH", "l", "1"],
            vec!["EXEC"],
        ]);
        let got = estimate_keys(&aof, aof.len() as u64);
        assert_eq!(
            got,
            vec![
                KeyEstimate {
                    db: 0,
                    keys: 2,
                    expires: 1
                },
                KeyEstimate {
                    db: 3,
                    keys: 2,
                    expires: 1
                },
            ]
        );
    }

    #[test]
    fn a_sample_is_scaled_by_the_file_size() {
        let records: Vec<Vec<String>> = (0..1000)
            .map(|i| vec!["SET".into(), format!("key:{i:06}"), "v".into()])
            .collect();
        let aof: Vec<u8> = records
            .iter()
            .flat_map(|r| record(&r.iter().map(String::as_str).collect::<Vec<_>>()))
            .collect();
        // The first quarter of a file of 1000 alike records: about 1000 keys.
        let got = estimate_keys(&aof[..aof.len() / 4], aof.len() as u64);
        assert_eq!(got.len(), 1);
        assert!((990..=1010).contains(&got[0].keys), "{got:?}");
        assert_eq!(got[0].expires, 0);
    }

    #[test]
    fn many_commands_on_few_keys_estimate_few_keys() {
        let aof = file(&vec![vec!["INCR", "counter"]; 5000]);
        let got = estimate_keys(&aof[..4096], aof.len() as u64);
        // One key in the sample, scaled: far below one per record.
        assert!(got[0].keys < 50, "{got:?}");
    }

    #[test]
    fn never_more_keys_than_the_file_could_create() {
        // A sample of tiny unique records scaled up: capped by the minimal record size.
        let aof = file(&[vec!["SET", "a", ""], vec!["SET", "b", ""]]);
        let got = estimate_keys(&aof, 1 << 20);
        assert!(got[0].keys <= (1 << 20) / MIN_KEY_RECORD_BYTES);
        let whole = estimate_keys(&aof, aof.len() as u64);
        assert_eq!(whole[0].keys, 2);
    }

    #[test]
    fn deleted_keys_and_ttls_are_not_counted() {
        let aof = file(&[
            vec!["SET", "a", "1"],
            vec!["SET", "b", "1", "PXAT", "9"],
            vec!["SET", "c", "1", "PXAT", "9"],
            vec!["SET", "d", "1"],
            vec!["DEL", "a", "b"],
            vec!["PERSIST", "c"],
            vec!["GETDEL", "d"],
            vec!["SET", "e", "1"],
        ]);
        let got = estimate_keys(&aof, aof.len() as u64);
        assert_eq!(
            got,
            vec![KeyEstimate {
                db: 0,
                keys: 2,
                expires: 0
            }]
        );
        // A queue's keys come and go: a table for the few alive, not for all ever written.
        let churn: Vec<Vec<String>> = (0..500)
            .flat_map(|i| {
                [
                    vec!["SET".to_string(), format!("job:{i}"), "x".to_string()],
                    vec!["DEL".to_string(), format!("job:{i}")],
                ]
            })
            .collect();
        let aof: Vec<u8> = churn
            .iter()
            .flat_map(|r| record(&r.iter().map(String::as_str).collect::<Vec<_>>()))
            .collect();
        let got = estimate_keys(&aof[..aof.len() / 2], aof.len() as u64);
        assert!(got[0].keys <= 2, "{got:?}");
    }

    #[test]
    fn no_resp_no_estimate() {
        assert!(estimate_keys(b"REDIS0012\xfa", 1000).is_empty());
        assert!(estimate_keys(b"", 0).is_empty());
        // A command cut by the sample's end counts for nothing.
        let aof = record(&["SET", "a", "1"]);
        assert!(estimate_keys(&aof[..aof.len() - 3], 1000).is_empty());
    }

    #[test]
    fn large_arguments_are_skipped_not_kept() {
        let big = "x".repeat(crate::command_reader::DIRECT_READ_MIN + 10);
        let aof = file(&[vec!["SET", "big", &big], vec!["SET", "small", "1"]]);
        let got = estimate_keys(&aof, aof.len() as u64);
        assert_eq!(
            got,
            vec![KeyEstimate {
                db: 0,
                keys: 2,
                expires: 0
            }]
        );
    }
}
