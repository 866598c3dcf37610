//! Builds the glue between the Rust AOF and the upstream Redis tree:
//! - bindgen over upstream's headers, with exactly the preprocessor flags upstream's
//!   Makefile computes (read from the patched Makefile's `print-final-cflags` target);
//! - the C shim (`src/shim.c`) for macros and `static inline` functions, compiled with
//!   the same flags;
//! - the two halves of the layout check, generated from one list (`src/layout.list`).

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());
    let redis_src = env::var_os("REDIS_SRC")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest_dir.join("../../build/patched/src"));
    println!("cargo:rerun-if-env-changed=REDIS_SRC");
    if !redis_src.join("server.h").exists() {
        panic!(
            "{} holds no upstream Redis tree: run `make` first (it fetches, patches and \
             prepares the tree), or point REDIS_SRC at a prepared src/ folder",
            redis_src.display()
        );
    }

    let release_defines = upstream_release(&redis_src);

    let cflags = upstream_cflags(&redis_src);
    let layout = LayoutList::read(&manifest_dir.join("src/layout.list"), &release_defines);
    fs::write(out_dir.join("layout_c.c"), layout.c_table()).unwrap();
    fs::write(out_dir.join("layout_rs.rs"), layout.rust_table()).unwrap();

    fs::write(
        out_dir.join("dict_entry_c.c"),
        dict_entry_layout(&redis_src),
    )
    .unwrap();
    generate_bindings(
        &manifest_dir,
        &out_dir,
        &redis_src,
        &cflags,
        &release_defines,
    );
    compile_shim(
        &manifest_dir,
        &out_dir,
        &redis_src,
        &cflags,
        &release_defines,
    );

    for watched in ["src/layout.list", "src/shim.c", "src/bindings.h"] {
        println!("cargo:rerun-if-changed={watched}");
    }
}

/// What differs between the supported upstream releases, read off the tree itself:
/// - `REDIS_AOF_UPSTREAM_VERSION` (an env var for the crate): `REDIS_VERSION` of the tree's
///   `version.h`, for the tests that pin measured facts of one release;
/// - one cfg per API difference in [`RELEASE_FEATURES`], set when its marker appears in the
///   header that declares it; the C shim gets the same answer as `REDIS_AOF_HAS_<NAME>`.
///   Returned as the shim's defines.
fn upstream_release(redis_src: &Path) -> Vec<String> {
    let version_h = redis_src.join("version.h");
    let text = fs::read_to_string(&version_h)
        .unwrap_or_else(|e| panic!("reading {}: {e}", version_h.display()));
    let version = text
        .lines()
        .find_map(|l| {
            let rest = l.trim().strip_prefix("#define REDIS_VERSION ")?;
            Some(rest.trim().trim_matches('"').to_string())
        })
        .unwrap_or_else(|| panic!("no REDIS_VERSION in {}", version_h.display()));
    println!("cargo:rustc-env=REDIS_AOF_UPSTREAM_VERSION={version}");
    println!("cargo:rerun-if-changed={}", version_h.display());

    let mut defines = Vec::new();
    for feature in RELEASE_FEATURES {
        println!("cargo::rustc-check-cfg=cfg({})", feature.cfg);
        let header = redis_src.join(feature.header);
        println!("cargo:rerun-if-changed={}", header.display());
        let present = fs::read_to_string(&header)
            .map(|text| text.contains(feature.marker))
            .unwrap_or(false);
        if present {
            println!("cargo::rustc-cfg={}", feature.cfg);
            defines.push(format!("-DREDIS_AOF_HAS_{}=1", feature.cfg.to_uppercase()));
        }
    }
    let present: Vec<&str> = RELEASE_FEATURES
        .iter()
        .map(|f| f.cfg)
        .filter(|cfg| {
            defines
                .iter()
                .any(|d| d == &format!("-DREDIS_AOF_HAS_{}=1", cfg.to_uppercase()))
        })
        .collect();
    let all: Vec<&str> = RELEASE_FEATURES.iter().map(|f| f.cfg).collect();
    println!("cargo::metadata=features={}", present.join(","));
    println!("cargo::metadata=known_features={}", all.join(","));
    defines
}

/// An API difference between supported releases: the cfg (and shim define) it sets, and the
/// text whose presence in a header of the tree shows it.
struct ReleaseFeature {
    cfg: &'static str,
    header: &'static str,
    marker: &'static str,
}

/// Every difference the glue and `src/aof` follow (8.0.6 has none of them unless noted;
/// 8.6.3 has them all).
const RELEASE_FEATURES: &[ReleaseFeature] = &[
    // `exitFromChild(int retcode, int from_signal)` (8.0.6 and later; 8.0.2 had one argument).
    ReleaseFeature {
        cfg: "exit_from_child_has_signal_flag",
        header: "server.h",
        marker: "void exitFromChild(int retcode, int from_signal);",
    },
    // Keys live inside their value objects (`kvobj`): an entry of the keyspace holds the
    // value, `kvobjGetKey`/`kvobjGetExpire` read its key and expiry.
    ReleaseFeature {
        cfg: "keys_in_values",
        header: "server.h",
        marker: "static inline kvobj *dictGetKV(",
    },
    // List, set, hash and kvstore iterators live in the caller's storage
    // (`listTypeInitIterator(&li, ...)`, `*ResetIterator`).
    ReleaseFeature {
        cfg: "iterators_in_caller_storage",
        header: "server.h",
        marker: "void listTypeInitIterator(listTypeIterator *li,",
    },
    // A skiplist sorted set's dict keys are its `zskiplistNode`s.
    ReleaseFeature {
        cfg: "zset_dict_holds_nodes",
        header: "server.h",
        marker: "sds zslGetNodeElement(const zskiplistNode *node);",
    },
    // `moduleInitIOContext` is a static inline taking the type's `ModuleEntityId`.
    ReleaseFeature {
        cfg: "module_io_entity",
        header: "server.h",
        marker: "static inline void moduleInitIOContext(RedisModuleIO *io, ModuleEntityId",
    },
    // The client's argument sizes and looked-up command were renamed with the pending
    // command queue (`all_argv_len_sum`, `lookedcmd`, `initPendingCommand`).
    ReleaseFeature {
        cfg: "pending_commands",
        header: "server.h",
        marker: "void initPendingCommand(pendingCommand *pcmd);",
    },
    // `aof-load-corrupt-tail-max-size` and `AOF_BROKEN_RECOVERED` (8.4).
    ReleaseFeature {
        cfg: "corrupt_tail_recovery",
        header: "server.h",
        marker: "#define AOF_BROKEN_RECOVERED",
    },
    // Idempotent stream producers (`XCFGSET`, `XIDMPRECORD`, 8.6).
    ReleaseFeature {
        cfg: "stream_idmp",
        header: "stream.h",
        marker: "idmp_producers",
    },
    // Module key metadata written after each key (`keyMetaOnAof`, 8.6).
    ReleaseFeature {
        cfg: "key_metadata",
        header: "keymeta.h",
        marker: "int keyMetaOnAof(rio *r, robj *key, kvobj *kv, int dbid);",
    },
    // The command-form rewrite ends with "AOF rewrite done, N keys saved, M keys skipped."
    // (8.6; read off the release's own aof.c, which is unpacked but never built).
    ReleaseFeature {
        cfg: "rewrite_done_log",
        header: "aof.c",
        marker: "\"AOF rewrite done, %ld keys saved, %llu keys skipped.\"",
    },
    // aof.c's global functions that 8.0 does not have: `rewriteObject` (server.h declares
    // it for cluster_asm.c's slot migration) and `appendAofInfoFromList` (made global in
    // 8.6; read off the release's aof.c). The library exports exactly the release's set.
    ReleaseFeature {
        cfg: "exports_rewrite_object",
        header: "server.h",
        marker: "int rewriteObject(rio *r, robj *key, robj *o, int dbid, long long expiretime);",
    },
    ReleaseFeature {
        cfg: "exports_append_aof_info_from_list",
        header: "aof.c",
        marker: "\nsds appendAofInfoFromList(sds buf, list *aofList) {",
    },
    // After a file is loaded, its descriptor is duplicated and handed to bio, which
    // reclaims its page cache in the background (8.6).
    ReleaseFeature {
        cfg: "load_reclaims_page_cache",
        header: "aof.c",
        marker: "if (fd >= 0) bioCreateCloseJob(fd, 0, 1);",
    },
    // rdbSaveRio ends with "BGSAVE done, N keys saved, M keys skipped, B bytes written." (8.6).
    ReleaseFeature {
        cfg: "rdb_save_done_log",
        header: "rdb.c",
        marker: "\"BGSAVE done, %ld keys saved, %llu keys skipped, %zu bytes written.\"",
    },
    // Per-key memory accounting (`key-memory-histograms`, slot stats), which rdbSaveDb
    // updates as it saves each key (8.6).
    ReleaseFeature {
        cfg: "memory_tracking",
        header: "server.h",
        marker: "int memory_tracking_enabled;",
    },
    // Atomic slot migration: the rewrite skips keys of slots in a trim job (8.6).
    ReleaseFeature {
        cfg: "slot_trim_jobs",
        header: "cluster_asm.h",
        marker: "int isSlotInTrimJob(int slot);",
    },
];

/// Upstream's FINAL_CFLAGS, as its own Makefile computes them on this machine (it probes
/// the compiler for `-std=` and picks the allocator), with include paths made absolute.
fn upstream_cflags(redis_src: &Path) -> Vec<String> {
    let out = Command::new("make")
        .args(["-s", "--no-print-directory", "-C"])
        .arg(redis_src)
        .arg("print-final-cflags")
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .output()
        .expect("running make print-final-cflags in the upstream tree");
    assert!(
        out.status.success(),
        "make print-final-cflags failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text.lines().last().unwrap_or_default();
    line.split_whitespace()
        .map(|flag| match flag.strip_prefix("-I") {
            Some(dir) if !Path::new(dir).is_absolute() => {
                format!("-I{}", redis_src.join(dir).display())
            }
            _ => flag.to_string(),
        })
        .collect()
}

/// The flags that change what a header means: defines, include paths, language standard.
fn preprocessor_flags(cflags: &[String]) -> Vec<String> {
    cflags
        .iter()
        .filter(|f| f.starts_with("-D") || f.starts_with("-I") || f.starts_with("-std="))
        .cloned()
        .collect()
}

fn generate_bindings(
    manifest_dir: &Path,
    out_dir: &Path,
    redis_src: &Path,
    cflags: &[String],
    release_defines: &[String],
) {
    let bindings = bindgen::Builder::default()
        .header(manifest_dir.join("src/bindings.h").to_string_lossy())
        .clang_arg(format!("-I{}", redis_src.display()))
        .clang_args(preprocessor_flags(cflags))
        .clang_args(release_defines)
        .allowlist_type("redisServer|client|robj|redisObject|rio|_rio|aofInfo|aofManifest|list|listNode|listIter|redisDb|redisCommand|bio_job_type_t|aof_file_type|childInfoType|listTypeEntry|listTypeIterator|setTypeIterator|hashTypeIterator|zset|functionLibInfo|kvstoreIterator|dictIterator|stream|streamID|idmpProducer|idmpEntry|pendingCommand|pendingCommandList|streamCG|streamConsumer|streamNACK|streamIterator|raxIterator|rax|RedisModuleIO|moduleValue|moduleType|RedisModuleType|sdshdr8|sdshdr16|sdshdr32|sdshdr64|dict|dictType")
        .allowlist_var("server|redis_aof_c_layout.*")
        .allowlist_var("(LL|C|RIO|SANITIZE|AOF|AOFRW|OBJ|BIO|CHILD_TYPE|CHILD_INFO|PROTO|RDB|RDBFLAGS|KEY_META|REDISMODULE_AOF|REDISMODULE_AUX|EXEC|CMD|CLIENT|SLAVE_STATE|SLAVE_REQ|REDIS_AUTOSYNC|LIST|MANIFEST|TEMP_FILE|BASE|INCR|HISTORY|SDS)_.*")
        .allowlist_function(ALLOWED_FUNCTIONS)
        .derive_default(false)
        .derive_debug(false)
        .layout_tests(false)
        .prepend_enum_name(false)
        .generate_comments(false)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        .generate()
        .expect("bindgen over upstream server.h");
    bindings.write_to_file(out_dir.join("bindings.rs")).unwrap();
}

/// Upstream functions the Rust side calls. Functions that aof.c itself defines are never
/// listed: Rust defines those.
const ALLOWED_FUNCTIONS: &str = concat!(
    "_serverLog|",
    "sdsnewlen|sdsnew|sdsempty|sdsfree|sdsdup|sdscatlen|sdsrange|sdsclear|sdsMakeRoomFor|sdsMakeRoomForNonGreedy|sdsIncrLen|sdsclear|sdsRemoveFreeSpace|",
    "zmalloc|zcalloc|zrealloc|zfree|",
    "listCreate|listRelease|listAddNodeTail|listAddNodeHead|listDelNode|listEmpty|listDup|listIndex|",
    "dirCreateIfMissing|fsyncFileDir|",
    "redisFork|redisSetProcTitle|redisSetCpuAffinity|sendChildCowInfo|exitFromChild|ustime|",
    "listTypeInitIterator|listTypeNext|listTypeGetValue|listTypeReleaseIterator|listTypeLength|",
    "setTypeInitIterator|setTypeNext|setTypeReleaseIterator|setTypeSize|zsetLength|lpSeek|lpNext|lpGetValue|",
    "zzlGetScore|zzlNext|dictGetIterator|dictNext|dictGetKey|dictGetVal|dictReleaseIterator|",
    "hashTypeLength|hashTypeGetMinExpire|hashTypeInitIterator|hashTypeNext|hashTypeCurrentFromListpack|",
    "hashTypeCurrentFromHashTable|hashTypeReleaseIterator|kvstoreSize|kvstoreIteratorInit|kvstoreIteratorNext|",
    "kvstoreIteratorRelease|functionsLibGet|dismissObject|sendChildInfo|fpconv_dtoa|rdbSaveRio|startSaving|stopSaving|",
    "rdbWriteRaw|rdbSaveType|rdbSaveLen|rdbSaveInfoAuxFields|rdbSaveModulesAux|rdbSaveFunctions|rioGenericUpdateChecksum|",
    "rioSetAutoSync|rioSetReclaimCache|reclaimFilePageCache|decrRefCount|",
    "moduleFreeContext|streamIteratorStart|streamIteratorGetID|streamIteratorGetField|streamIteratorStop|streamDecodeID|raxStart|raxSeek|raxNext|raxStop|raxSize|",
    "bioPendingJobsOfType|bioCreateFsyncJob|bioCreateCloseAofJob|bioDrainWorker|",
    "_serverAssert|_serverPanic|mstime|latencyAddSample|hasActiveChildProcess|resetChildState|",
    "bg_unlink|addReplyError|addReplyStatus|",
    "kvstoreGetDictMetadata|kvstoreIteratorNextDict|dictGenHashFunction|dictSdsHash|dbExpand|dbExpandExpires|kvstoreBuckets|",
    "createClient|freeClient|freeClientArgv|createStringObject|createObject|lookupCommand|queueMultiCommand|multiCommand|execCommand|",
    "startLoading|stopLoading|updateLoadingFileName|loadingIncrProgress|loadingAbsProgress|processEventsWhileBlocked|",
    "processModuleLoadingProgressEvent|debugDelay|rioInitWithFile|rdbLoadRio|rdbLoadObject|",
    "dictInitIterator|dictResetIterator|kvstoreIteratorGetCurrentDictIndex|kvstoreGetDict|",
    "isSlotInTrimJob|keyMetaOnAof|streamEntryExists|initPendingCommand|addPendingCommand|bioCreateCloseJob|",
    "kvobjSet|kvobjGetKey|jemalloc_purge|",
    "redis_aof_shim_.*|redis_aof_c_layout.*"
);

fn compile_shim(
    manifest_dir: &Path,
    out_dir: &Path,
    redis_src: &Path,
    cflags: &[String],
    release_defines: &[String],
) {
    let mut build = cc::Build::new();
    build
        .file(manifest_dir.join("src/shim.c"))
        .file(out_dir.join("layout_c.c"))
        .file(out_dir.join("dict_entry_c.c"))
        .include(redis_src)
        .include(manifest_dir.join("src"))
        .warnings(false);
    for flag in cflags {
        // Link-time optimisation would put compiler IR into the Rust archive; the shim is
        // tiny and only inlines upstream's own static inline functions.
        if flag.starts_with("-flto") || flag.starts_with("-O") {
            continue;
        }
        build.flag(flag);
    }
    for define in release_defines {
        build.flag(define);
    }
    build
        .flag("-fno-lto")
        .opt_level(2)
        .compile("redis_aof_shim");
}

/// dict.c keeps `struct dictEntry` and its pointer tags private, and the rewrite walk's
/// hints read an entry's `next` (`prefetch.rs`): a C file that compiles a copy of that
/// struct and those tags, taken from this tree's dict.c, so `layout::mismatches` compares
/// the size, the offset of `next` and the tags with what the Rust side assumes.
fn dict_entry_layout(redis_src: &Path) -> String {
    let dict_c = fs::read_to_string(redis_src.join("dict.c")).unwrap();
    let start = dict_c
        .find("struct dictEntry {")
        .expect("dict.c defines struct dictEntry");
    let end = start + dict_c[start..].find("};").expect("struct dictEntry ends") + 2;
    let entry =
        dict_c[start..end].replacen("struct dictEntry {", "struct redis_aof_dict_entry {", 1);
    let define = |name: &str| {
        dict_c
            .lines()
            .find(|l| l.split_whitespace().take(2).eq(["#define", name]))
            .unwrap_or_else(|| panic!("dict.c defines {name}"))
            .to_string()
    };
    format!(
        "#include <stddef.h>\n#include <stdint.h>\n{}\n{}\n{entry}\n\
         const size_t redis_aof_dict_entry_size = sizeof(struct redis_aof_dict_entry);\n\
         const size_t redis_aof_dict_entry_next = offsetof(struct redis_aof_dict_entry, next);\n\
         const size_t redis_aof_dict_entry_ptr_mask = ENTRY_PTR_MASK;\n\
         const size_t redis_aof_dict_entry_ptr_normal = ENTRY_PTR_NORMAL;\n",
        define("ENTRY_PTR_MASK"),
        define("ENTRY_PTR_NORMAL"),
    )
}

/// `src/layout.list`: which structs and fields both compilers must agree on.
struct LayoutList {
    structs: Vec<LayoutStruct>,
}

struct LayoutStruct {
    c_type: String,
    rust_type: String,
    fields: Vec<String>,
}

impl LayoutList {
    /// A line or a field may name a release feature in brackets: `[cfg]` keeps it only
    /// where that feature is present, `[!cfg]` only where it is absent (`release_defines`
    /// are the features present, as the shim's `-DREDIS_AOF_HAS_<CFG>=1` flags).
    fn read(path: &Path, release_defines: &[String]) -> LayoutList {
        let present = |cfg: &str| {
            let define = format!("-DREDIS_AOF_HAS_{}=1", cfg.to_uppercase());
            assert!(
                RELEASE_FEATURES.iter().any(|f| f.cfg == cfg),
                "layout.list names an unknown release feature [{cfg}]"
            );
            release_defines.contains(&define)
        };
        // `item[cfg]` / `item[!cfg]`: the item, if it applies to this release.
        let applies = |item: &str| -> Option<String> {
            let Some((name, cond)) = item.split_once('[') else {
                return Some(item.to_string());
            };
            let cond = cond.strip_suffix(']').expect("layout.list: unclosed [");
            let keep = match cond.strip_prefix('!') {
                Some(cfg) => !present(cfg),
                None => present(cond),
            };
            keep.then(|| name.to_string())
        };
        let text = fs::read_to_string(path).unwrap();
        let structs = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter_map(|line| {
                let line = match line.strip_prefix('[') {
                    Some(rest) => {
                        let (cond, rest) = rest.split_once(']').expect("layout.list: unclosed [");
                        applies(&format!("x[{cond}]"))?;
                        rest.trim()
                    }
                    None => line,
                };
                let parts: Vec<&str> = line.split(';').map(str::trim).collect();
                assert_eq!(parts.len(), 3, "layout.list: bad line {line:?}");
                Some(LayoutStruct {
                    c_type: parts[0].to_string(),
                    rust_type: parts[1].to_string(),
                    fields: parts[2].split_whitespace().filter_map(applies).collect(),
                })
            })
            .collect();
        LayoutList { structs }
    }

    /// Each entry is named `<rust type>` (its size) or `<rust type>.<field>` (its offset).
    fn c_table(&self) -> String {
        let mut c = String::from(
            "#include \"bindings.h\"\n#include <stddef.h>\n\n\
             const struct redis_aof_layout_entry redis_aof_c_layout[] = {\n",
        );
        for s in &self.structs {
            writeln!(c, "    {{\"{}\", sizeof({})}},", s.rust_type, s.c_type).unwrap();
            for f in &s.fields {
                writeln!(
                    c,
                    "    {{\"{}.{f}\", offsetof({}, {f})}},",
                    s.rust_type, s.c_type
                )
                .unwrap();
            }
        }
        c.push_str("};\nconst size_t redis_aof_c_layout_len = sizeof(redis_aof_c_layout) / sizeof(redis_aof_c_layout[0]);\n");
        c
    }

    fn rust_table(&self) -> String {
        // bindgen appends '_' to C field names that are Rust keywords (list.match).
        let rust_field = |f: &str| match f {
            "match" | "type" | "ref" | "move" | "fn" | "loop" | "impl" | "proc" => format!("{f}_"),
            _ => f.to_string(),
        };
        let mut r = String::from("&[\n");
        for s in &self.structs {
            let t = &s.rust_type;
            writeln!(r, "    (\"{t}\", ::core::mem::size_of::<bindings::{t}>()),").unwrap();
            for f in &s.fields {
                writeln!(
                    r,
                    "    (\"{t}.{f}\", ::core::mem::offset_of!(bindings::{t}, {})),",
                    rust_field(f)
                )
                .unwrap();
            }
        }
        r.push(']');
        r
    }
}
