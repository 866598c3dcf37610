/* Upstream's static inline functions and macros, given a linkable body so Rust can call
 * them. Each is a one-line forward: the logic stays upstream's. */
#include "bindings.h"

size_t redis_aof_shim_sdslen(const sds s) { return sdslen(s); }
size_t redis_aof_shim_sdsavail(const sds s) { return sdsavail(s); }
void redis_aof_shim_sdssetlen(sds s, size_t len) { sdssetlen(s, len); }
uint64_t redis_aof_shim_client_id_aof(void) { return CLIENT_ID_AOF; }
size_t redis_aof_shim_rio_write(rio *r, const void *buf, size_t len) { return rioWrite(r, buf, len); }
/* A key's expiry: 8.0 looks the key up in the expires dict (getExpire takes it as an
 * object, which upstream builds on the stack); with keys in values the object carries it. */
long long redis_aof_shim_get_expire(redisDb *db, sds key, robj *value) {
#if REDIS_AOF_HAS_KEYS_IN_VALUES
    (void)db; (void)key;
    return kvobjGetExpire(value);
#else
    (void)value;
    robj keyobj;
    initStaticStringObject(keyobj, key);
    return getExpire(db, &keyobj);
#endif
}
/* Whether `db` holds `key` (`len` bytes), read as dbFind reads it: no expiry check, no
 * LRU/LFU touch, no keyspace event. dbFind takes the key as an sds (8.6 reads its length
 * for the cluster slot), so the name is copied into `*scratch`, an sds the caller owns and
 * reuses; sdscpylen may reallocate it. dbFind returns a kvobj (8.6) or a dictEntry (8.0):
 * either is NULL when the key is not there. */
int redis_aof_shim_db_holds(redisDb *db, sds *scratch, const char *key, size_t len) {
    *scratch = sdscpylen(*scratch, key, len);
    return dbFind(db, *scratch) != NULL;
}
/* The value of a keyspace entry (the entry's value; with keys in values, its key). */
robj *redis_aof_shim_entry_value(dictEntry *de) {
#if REDIS_AOF_HAS_KEYS_IN_VALUES
    return dictGetKV(de);
#else
    return dictGetVal(de);
#endif
}
/* The key of a keyspace entry whose value is `value` (the entry's key; with keys in values,
 * the key embedded in the value object). */
sds redis_aof_shim_entry_key(dictEntry *de, robj *value) {
#if REDIS_AOF_HAS_KEYS_IN_VALUES
    (void)de;
    return kvobjGetKey(value);
#else
    (void)value;
    return dictGetKey(de);
#endif
}
/* A skiplist sorted set's dict entry: its member, and its score into *score (8.0: the
 * entry's key and value; later the key is the skiplist node holding both). */
sds redis_aof_shim_zset_dict_member(dictEntry *de, double *score) {
#if REDIS_AOF_HAS_ZSET_DICT_HOLDS_NODES
    zskiplistNode *node = dictGetKey(de);
    *score = node->score;
    return zslGetNodeElement(node);
#else
    *score = *(double *)dictGetVal(de);
    return dictGetKey(de);
#endif
}
/* Upstream's list, set and hash iterators: in the caller's storage (8.6), or allocated by
 * upstream (8.0), where `storage` goes unused. Each start returns the iterator to pass to
 * the type's Next and to its stop. */
listTypeIterator *redis_aof_shim_list_iter_start(listTypeIterator *storage, robj *o) {
#if REDIS_AOF_HAS_ITERATORS_IN_CALLER_STORAGE
    listTypeInitIterator(storage, o, 0, LIST_TAIL);
    return storage;
#else
    (void)storage;
    return listTypeInitIterator(o, 0, LIST_TAIL);
#endif
}
void redis_aof_shim_list_iter_stop(listTypeIterator *it) {
#if REDIS_AOF_HAS_ITERATORS_IN_CALLER_STORAGE
    listTypeResetIterator(it);
#else
    listTypeReleaseIterator(it);
#endif
}
setTypeIterator *redis_aof_shim_set_iter_start(setTypeIterator *storage, robj *o) {
#if REDIS_AOF_HAS_ITERATORS_IN_CALLER_STORAGE
    setTypeInitIterator(storage, o);
    return storage;
#else
    (void)storage;
    return setTypeInitIterator(o);
#endif
}
void redis_aof_shim_set_iter_stop(setTypeIterator *it) {
#if REDIS_AOF_HAS_ITERATORS_IN_CALLER_STORAGE
    setTypeResetIterator(it);
#else
    setTypeReleaseIterator(it);
#endif
}
hashTypeIterator *redis_aof_shim_hash_iter_start(hashTypeIterator *storage, robj *o) {
#if REDIS_AOF_HAS_ITERATORS_IN_CALLER_STORAGE
    hashTypeInitIterator(storage, o);
    return storage;
#else
    (void)storage;
    return hashTypeInitIterator(o);
#endif
}
void redis_aof_shim_hash_iter_stop(hashTypeIterator *it) {
#if REDIS_AOF_HAS_ITERATORS_IN_CALLER_STORAGE
    hashTypeResetIterator(it);
#else
    hashTypeReleaseIterator(it);
#endif
}
/* A kvstore iterator (once per db, so 8.6's caller storage is taken from zmalloc here:
 * 8.0's kvstoreIterator is private to kvstore.c and has no size the Rust side could use). */
kvstoreIterator *redis_aof_shim_kvstore_iter_start(kvstore *kvs) {
#if REDIS_AOF_HAS_ITERATORS_IN_CALLER_STORAGE
    kvstoreIterator *it = zmalloc(sizeof(*it));
    kvstoreIteratorInit(it, kvs);
    return it;
#else
    return kvstoreIteratorInit(kvs);
#endif
}
void redis_aof_shim_kvstore_iter_stop(kvstoreIterator *it) {
#if REDIS_AOF_HAS_ITERATORS_IN_CALLER_STORAGE
    kvstoreIteratorReset(it);
    zfree(it);
#else
    kvstoreIteratorRelease(it);
#endif
}
/* rdbSaveKeyValuePair wants the key as an object too, as rdbSaveDb builds it. */
int redis_aof_shim_rdb_save_key_value(rio *rdb, sds key, robj *val, long long expire, int dbid) {
    robj keyobj;
    initStaticStringObject(keyobj, key);
    return rdbSaveKeyValuePair(rdb, &keyobj, val, expire, dbid);
}
unsigned long long redis_aof_shim_eb_expire_time_invalid(void) { return EB_EXPIRE_TIME_INVALID; }
void redis_aof_shim_module_io_init(struct RedisModuleIO *io, moduleType *mt, rio *r, robj *key, int db) {
#if REDIS_AOF_HAS_MODULE_IO_ENTITY
    moduleInitIOContext(io, &mt->entity, r, key, db);
#else
    moduleInitIOContext((*io), mt, r, key, db);
#endif
}
/* A module type's name (8.6 keeps it in the type's entity). */
const char *redis_aof_shim_module_type_name(moduleType *mt) {
#if REDIS_AOF_HAS_MODULE_IO_ENTITY
    return mt->entity.name;
#else
    return mt->name;
#endif
}
/* jemalloc's arena of the calling thread (`thread.arena`, jemalloc's documented control):
 * read into *arena, or the calling thread bound to *arena. 0 on success; -1 when the
 * build's allocator is not jemalloc (MALLOC=libc, the sanitizer builds) or the call
 * failed. Redis builds its bundled jemalloc with the je_ prefix; zmalloc.h includes its
 * header, which declares je_mallctl. */
#if defined(USE_JEMALLOC)
/* Weak, so the glue's unit tests (which link the shim but no jemalloc) link; the server
 * always has it, and then the functions below are jemalloc's control as written. */
#pragma weak je_mallctl
#endif
int redis_aof_thread_arena_get(unsigned *arena) {
#if defined(USE_JEMALLOC)
    size_t len = sizeof(*arena);
    if (!je_mallctl) return -1;
    return je_mallctl("thread.arena", arena, &len, NULL, 0) == 0 ? 0 : -1;
#else
    (void)arena;
    return -1;
#endif
}
int redis_aof_thread_arena_set(unsigned arena) {
#if defined(USE_JEMALLOC)
    if (!je_mallctl) return -1;
    return je_mallctl("thread.arena", NULL, NULL, &arena, sizeof(arena)) == 0 ? 0 : -1;
#else
    (void)arena;
    return -1;
#endif
}

/* rdb.c's rdbLoadProgressCallback without its first statement, the CRC64 of the bytes
 * read (`if (server.rdb_checksum) rioGenericUpdateChecksum(r, buf, len);`): the loader
 * that reads an RDB from the reading thread's blocks keeps the checksum itself (see
 * rdb_stream.rs). The rest is the callback's, call for call; a glue test compares this
 * against the callback in the tree's rdb.c. */
void redis_aof_shim_rdb_load_progress(rio *r, const void *buf, size_t len) {
    (void)buf;
    if (server.loading_process_events_interval_bytes &&
        (r->processed_bytes + len)/server.loading_process_events_interval_bytes > r->processed_bytes/server.loading_process_events_interval_bytes)
    {
        if (server.masterhost && server.repl_state == REPL_STATE_TRANSFER)
            replicationSendNewlineToMaster();
        loadingAbsProgress(r->processed_bytes);
        processEventsWhileBlocked();
        processModuleLoadingProgressEvent(0);
    }
    if (server.repl_state == REPL_STATE_TRANSFER && rioCheckType(r) == RIO_TYPE_CONN) {
        atomicIncr(server.stat_net_repl_input_bytes, len);
    }
}
