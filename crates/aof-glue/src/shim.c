/* Upstream's static inline functions and macros, given a linkable body so Rust can call
 * them. Each is a one-line forward: the logic stays upstream's. */
#include "bindings.h"

size_t redis_aof_shim_sdslen(const sds s) { return sdslen(s); }
size_t redis_aof_shim_sdsavail(const sds s) { return sdsavail(s); }
void redis_aof_shim_sdssetlen(sds s, size_t len) { sdssetlen(s, len); }
uint64_t redis_aof_shim_client_id_aof(void) { return CLIENT_ID_AOF; }
size_t redis_aof_shim_rio_write(rio *r, const void *buf, size_t len) { return rioWrite(r, buf, len); }
/* getExpire wants the key as an object: upstream builds a static one on the stack. */
long long redis_aof_shim_get_expire(redisDb *db, sds key) {
    robj keyobj;
    initStaticStringObject(keyobj, key);
    return getExpire(db, &keyobj);
}
/* rdbSaveKeyValuePair wants the key as an object too, as rdbSaveDb builds it. */
int redis_aof_shim_rdb_save_key_value(rio *rdb, sds key, robj *val, long long expire, int dbid) {
    robj keyobj;
    initStaticStringObject(keyobj, key);
    return rdbSaveKeyValuePair(rdb, &keyobj, val, expire, dbid);
}
unsigned long long redis_aof_shim_eb_expire_time_invalid(void) { return EB_EXPIRE_TIME_INVALID; }
void redis_aof_shim_module_io_init(struct RedisModuleIO *io, moduleType *mt, rio *r, robj *key, int db) {
    moduleInitIOContext((*io), mt, r, key, db);
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
