//! How many keys (and keys with a TTL) replaying a RESP AOF file will create in each
//! database, estimated from the file's first bytes, so the loader can size each keyspace
//! once instead of letting it double (and rehash every key) as it grows.
//!
//! The estimate counts the keys (a command's first argument) per database that are alive
//! at the end of the sample (a `DEL`, `UNLINK` or `GETDEL` ends a key, a `PERSIST` its TTL)
//! and scales the count by the file's size over the sample's: exact for keys written by
//! name when the sample is the whole file, and right for the files rewrites and steady
//! write loads produce (their records look alike from start to end, and name a new key at
//! the same rate throughout).
//!
//! Scaling linearly is wrong for many commands on a fixed population of keys (counters,
//! lists and sets updated in random order): the sample already names most keys, the rest
//! of the file names few new ones, and a linear estimate can be many times too large: a
//! table of several times the buckets needed, kept until Redis's cron finds it under an
//! eighth full (a case: `bench/MEASUREMENTS.md`, "The key estimate on many commands over
//! few keys").
//! So the sample also tells whether it saturates: per database, the distinct keys named
//! (deletes count as naming, not as ending: this is about the population) after the first
//! half of its key-naming commands, `D1`, and after all of them, `D`. Keys drawn uniformly
//! from a population of `N` give `D(n) = N (1 - e^(-n/N))`, hence `D / D1 = 1 + e^(-x/2)`
//! with `x = n / N`; a new key per command (or per few commands) gives `D / D1 = 2`. When
//! the ratio `r` is below 2 (by more than a few keys a midpoint can split, and with
//! [`SATURATION_MIN_KEYS`] named in the first half, so small samples stay linear), the
//! model is solved, `x = -2 ln(r - 1)` and `N = D / (1 - e^(-x))`, and the file, `k` times
//! the sample, is expected to name `N (1 - e^(-k x))` keys. Each key alive (or with a TTL)
//! at the sample's end then stands for that over `D` keys instead of `k`. There is no
//! threshold below 2: the prediction tends to the linear one as `r` tends to 2, and is
//! never above it, so a weak saturation cuts the estimate a little and a strong one a lot.
//!
//! A file replayed onto a database that already holds keys (an INCR after an RDB BASE, whose
//! RESIZEDB sized the table already) names many of them again: those are no new keys.
//! [`estimate_keys_over`] asks, the first time the sample names a key, whether the
//! database held it before the file, and counts only the keys it did not.
//!
//! A file whose sample misleads still gets a wrong table. Too small (harmless: it grows by
//! doubling, as upstream's would) when the sample ends in a stretch naming few new keys
//! (a large list written by many commands, chance in a growing dataset), or starts with a
//! burst of new keys and then grows steadily. Too large when the sample names new keys
//! faster than the rest of the file (keys deleted or expiring while loading, a burst of
//! new keys in the sample's second half), bounded by [`MIN_KEY_RECORD_BYTES`]: no more keys
//! than the file could create. Such a table stays as large until Redis's cron finds it
//! under an eighth full, and its buckets count in `used_memory`.

use crate::command_reader::{CommandParser, Step};
use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};

/// The shortest record that can add a key: `*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n`.
pub const MIN_KEY_RECORD_BYTES: u64 = 26;

/// The fewest distinct keys the first half of a database's sample must name for its
/// saturation to be judged: below it a key more or less moves the ratio too much, and a
/// database this small in the sample is scaled linearly.
pub const SATURATION_MIN_KEYS: u64 = 256;

/// Keys a sample's midpoint can leave short of twice the first half's count without any
/// saturation: a key whose commands straddle the midpoint counts whole in the first half,
/// and a few keys written side by side (a `MULTI` block, interleaved clients) can.
const MIDPOINT_SLACK: u64 = 4;

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
    /// Keys alive at the end of the sample, and those with a TTL.
    keys: HashSet<u64>,
    expires: HashSet<u64>,
    /// Every key named, deleted or not, and the draw (a key named by a command, counted
    /// from 0) at which each was first named, in order: how fast new keys come.
    named: HashSet<u64>,
    first_named_at: Vec<u64>,
    draws: u64,
    /// Keys named that the database held before the file.
    held_before: HashSet<u64>,
}

impl Counts {
    /// Records that `key` (the hash of `name`) is named; the first time, asks `held`
    /// whether the database held it before the file.
    fn name(&mut self, key: u64, name: &[u8], held: &mut dyn FnMut(&[u8]) -> bool) {
        if self.named.insert(key) {
            self.first_named_at.push(self.draws);
            if held(name) {
                self.held_before.insert(key);
            }
        }
        self.draws += 1;
    }

    /// The keys of `set` the database did not hold before the file: what it adds.
    fn added(&self, set: &HashSet<u64>) -> usize {
        if self.held_before.is_empty() {
            return set.len();
        }
        set.iter().filter(|k| !self.held_before.contains(k)).count()
    }

    /// How many distinct keys the whole file is expected to name per key the sample
    /// named, the file holding `k` times the sample; `None` when the sample does not
    /// saturate (or is too small to tell), for the linear scale.
    fn saturated_scale(&self, k: f64) -> Option<f64> {
        let d = self.first_named_at.len() as u64;
        let d1 = self
            .first_named_at
            .partition_point(|&at| at < self.draws / 2) as u64;
        let deficit = (2 * d1).saturating_sub(d + MIDPOINT_SLACK);
        if d1 < SATURATION_MIN_KEYS || deficit == 0 {
            return None;
        }
        // r = D / D1 = 1 + e^(-x/2), x = n / N: the sample's draws per key. The slack
        // keeps r - 1 at least MIDPOINT_SLACK / D1 > 0 (no new key in the second half
        // reads as a population of about D), so x is finite.
        let r_minus_1 = 1.0 - deficit as f64 / d1 as f64;
        let x = -2.0 * r_minus_1.ln();
        // N / D = 1 / (1 - e^(-x)); the file names N (1 - e^(-k x)).
        let named_in_file = -(-k * x).exp_m1() / -(-x).exp_m1();
        Some(named_in_file.min(k))
    }
}

/// Estimates, per database (in order of first use), from `sample`, the first bytes of a
/// RESP AOF file of `file_len` bytes (`sample.len() == file_len` for the whole file),
/// replayed onto empty databases. Commands cut by the sample's end, and a sample that is
/// not RESP, count for nothing.
pub fn estimate_keys(sample: &[u8], file_len: u64) -> Vec<KeyEstimate> {
    estimate_keys_over(sample, file_len, |_, _| false)
}

/// As [`estimate_keys`], for a file replayed onto databases that may hold keys already:
/// `held(db, key)` says whether database `db` held `key` before the file (asked once per
/// distinct key of the sample), and such keys count as no addition.
pub fn estimate_keys_over(
    sample: &[u8],
    file_len: u64,
    mut held: impl FnMut(i64, &[u8]) -> bool,
) -> Vec<KeyEstimate> {
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
                count(&mut dbs, &mut db, &all, &hasher, &mut held);
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
                    count(&mut dbs, &mut db, &all, &hasher, &mut held);
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
    let k = file_len as f64 / counted as f64;
    dbs.into_iter()
        .map(|(db, c)| {
            let per_key = if whole_file {
                None
            } else {
                c.saturated_scale(k)
            };
            let scale = |n: usize| -> u64 {
                if whole_file {
                    return (n as u64).min(limit);
                }
                let linear = (n as u128 * u128::from(file_len) / counted as u128) as u64;
                let scaled = match per_key {
                    // Alive keys stand for the file's named keys in the sample's proportion.
                    Some(per_key) => ((n as f64 * per_key) as u64).min(linear),
                    None => linear,
                };
                scaled.min(limit)
            };
            KeyEstimate {
                db,
                keys: scale(c.added(&c.keys)),
                expires: scale(c.added(&c.expires)),
            }
        })
        .collect()
}

/// Commands that end every key they name.
fn deletes_keys(name: &[u8]) -> bool {
    [&b"del"[..], b"unlink", b"getdel"]
        .iter()
        .any(|n| name.eq_ignore_ascii_case(n))
}

fn count(
    dbs: &mut Vec<(i64, Counts)>,
    db: &mut i64,
    args: &[&[u8]],
    hasher: &RandomState,
    held: &mut impl FnMut(i64, &[u8]) -> bool,
) {
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
        let this_db = *db;
        for name in &args[1..last.min(args.len())] {
            let key = hasher.hash_one(name);
            counts.name(key, name, &mut |k| held(this_db, k));
            counts.keys.remove(&key);
            counts.expires.remove(&key);
        }
        return;
    }
    let key = hasher.hash_one(args[1]);
    let this_db = *db;
    counts.name(key, args[1], &mut |k| held(this_db, k));
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

    use crate::resp::encode_text_command as record;

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
    fn keys_the_database_held_before_the_file_add_nothing() {
        // Half the sample's keys were there before the file (an INCR over an RDB base);
        // db 1 held none of its keys.
        let records: Vec<Vec<String>> = (0..1000)
            .map(|i| {
                let db_switch = if i == 800 { Some("1") } else { None };
                let mut r = vec!["SET".into(), format!("key:{i:06}"), "v".into()];
                if let Some(db) = db_switch {
                    r = vec!["SELECT".into(), db.into()];
                }
                r
            })
            .collect();
        let aof: Vec<u8> = records
            .iter()
            .flat_map(|r| record(&r.iter().map(String::as_str).collect::<Vec<_>>()))
            .collect();
        let mut asked = Vec::new();
        let got = estimate_keys_over(&aof, aof.len() as u64, |db, key| {
            asked.push((db, key.to_vec()));
            db == 0 && key.ends_with(b"0")
        });
        // db 0: 799 keys named, 80 of them (key:...0) held before; db 1: 199 keys, none.
        assert_eq!(
            got[0],
            KeyEstimate {
                db: 0,
                keys: 800 - 80,
                expires: 0
            }
        );
        assert_eq!(
            got[1],
            KeyEstimate {
                db: 1,
                keys: 199,
                expires: 0
            }
        );
        // Asked once per distinct key, with its own database.
        assert_eq!(asked.len(), 800 + 199);
        assert!(asked
            .iter()
            .all(|(db, k)| (*db == 1) == (k.as_slice() > &b"key:000800"[..])));
        // With nothing held, the same as estimate_keys.
        assert_eq!(
            estimate_keys_over(&aof, aof.len() as u64, |_, _| false),
            estimate_keys(&aof, aof.len() as u64)
        );
    }

    #[test]
    fn a_key_held_before_and_named_again_after_a_delete_still_adds_nothing_new() {
        // DEL ends a held key; a later SET re-creates it: the table gains nothing over
        // what it held, so the key is no addition either way.
        let aof = file(&[
            vec!["DEL", "old"],
            vec!["SET", "old", "1"],
            vec!["SET", "new", "1"],
        ]);
        let got = estimate_keys_over(&aof, aof.len() as u64, |_, key| key == b"old");
        assert_eq!(got[0].keys, 1);
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

    fn file_of(records: &[Vec<String>]) -> Vec<u8> {
        records
            .iter()
            .flat_map(|r| record(&r.iter().map(String::as_str).collect::<Vec<_>>()))
            .collect()
    }

    /// A deterministic stream of pseudo-random numbers (Knuth's MMIX LCG, high bits).
    fn lcg(seed: u64) -> impl FnMut(u64) -> u64 {
        let mut state = seed;
        move |below| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) % below
        }
    }

    /// The first `fraction` of `aof`'s bytes, as the loader samples it.
    fn estimate_from(aof: &[u8], fraction: usize) -> KeyEstimate {
        let got = estimate_keys(&aof[..aof.len() / fraction], aof.len() as u64);
        assert_eq!(got.len(), 1, "{got:?}");
        got[0]
    }

    #[test]
    fn fresh_keys_scale_linearly_even_two_commands_a_key() {
        // What a rewrite produces: each key once, or SET then PEXPIREAT, enough keys for
        // the saturation to be judged, and a sample cut anywhere in a pair.
        let records: Vec<Vec<String>> = (0..40_000)
            .flat_map(|i| {
                let key = format!("key:{i:06}");
                let mut r = vec![vec!["SET".into(), key.clone(), "v".into()]];
                if i % 2 == 0 {
                    r.push(vec!["PEXPIREAT".into(), key, "99".into()]);
                }
                r
            })
            .collect();
        let aof = file_of(&records);
        for fraction in [3, 4, 7, 10] {
            let got = estimate_from(&aof, fraction);
            assert!(
                (39_600..=40_400).contains(&got.keys),
                "1/{fraction}: {got:?}"
            );
            assert!(
                (19_800..=20_200).contains(&got.expires),
                "1/{fraction}: {got:?}"
            );
        }
    }

    #[test]
    fn many_commands_on_a_fixed_population_saturate() {
        // 200 000 writes on 20 000 keys in random order, a fifth of them with a TTL: the
        // first tenth names about 12 600 keys, which a linear scale takes for 126 000.
        const POPULATION: u64 = 20_000;
        let mut next = lcg(7);
        let records: Vec<Vec<String>> = (0..200_000)
            .map(|_| {
                let i = next(POPULATION);
                let key = format!("counter:{i}");
                if i.is_multiple_of(5) {
                    vec!["SET".into(), key, "1".into(), "EX".into(), "100".into()]
                } else {
                    vec!["INCR".into(), key]
                }
            })
            .collect();
        let keys: HashSet<&str> = records.iter().map(|r| r[1].as_str()).collect();
        let expires = keys
            .iter()
            .filter(|k| k[8..].parse::<u64>().unwrap().is_multiple_of(5))
            .count() as f64;
        let keys = keys.len() as f64;
        let aof = file_of(&records);
        // What a linear scale makes of a tenth: the keys of the records inside it, times 10.
        let mut end = 0;
        let in_tenth: HashSet<&str> = records
            .iter()
            .take_while(|r| {
                end += file_of(&[r.to_vec()]).len();
                end <= aof.len() / 10
            })
            .map(|r| r[1].as_str())
            .collect();
        assert!(
            in_tenth.len() as f64 * 10.0 > 5.0 * keys,
            "{}",
            in_tenth.len()
        );
        for fraction in [4, 10, 30] {
            let got = estimate_from(&aof, fraction);
            let ratio = got.keys as f64 / keys;
            assert!(
                (0.7..=1.5).contains(&ratio),
                "1/{fraction}: {got:?} of {keys}"
            );
            let ratio = got.expires as f64 / expires;
            assert!(
                (0.7..=1.5).contains(&ratio),
                "1/{fraction}: {got:?} of {expires}"
            );
        }
    }

    #[test]
    fn a_saturated_population_with_deletes_counts_the_keys_alive() {
        // SETs and DELs (one in ten) on 20 000 keys: about 18 000 alive at the end.
        const POPULATION: u64 = 20_000;
        let mut next = lcg(11);
        let records: Vec<Vec<String>> = (0..200_000)
            .map(|_| {
                let key = format!("k:{}", next(POPULATION));
                if next(10) == 0 {
                    vec!["DEL".into(), key]
                } else {
                    vec!["SET".into(), key, "v".into()]
                }
            })
            .collect();
        let mut alive = HashSet::new();
        for r in &records {
            if r[0] == "DEL" {
                alive.remove(&r[1]);
            } else {
                alive.insert(&r[1]);
            }
        }
        let alive = alive.len() as f64;
        let got = estimate_from(&file_of(&records), 10);
        let ratio = got.keys as f64 / alive;
        assert!((0.7..=1.5).contains(&ratio), "{got:?} of {alive}");
    }

    #[test]
    fn a_growing_dataset_with_updates_stays_linear() {
        // Half the commands add a key, half update one already there: a new key every two
        // commands from start to end, 50 000 in all.
        let mut next = lcg(3);
        let mut added = 0u64;
        let records: Vec<Vec<String>> = (0..100_000)
            .map(|_| {
                let i = if added == 0 || next(2) == 0 {
                    added += 1;
                    added - 1
                } else {
                    next(added)
                };
                vec!["SET".into(), format!("user:{i}"), "v".into()]
            })
            .collect();
        let got = estimate_from(&file_of(&records), 4);
        let ratio = got.keys as f64 / added as f64;
        // Chance in the sample may read as a little saturation: never more keys.
        assert!((0.8..=1.05).contains(&ratio), "{got:?} of {added}");
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
