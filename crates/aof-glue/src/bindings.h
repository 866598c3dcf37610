/* What bindgen sees: upstream's server.h plus the C shim's own declarations. */
#ifndef REDIS_AOF_BINDINGS_H
#define REDIS_AOF_BINDINGS_H

#include "server.h"
#include "bio.h"
#include "functions.h"
#include "stream.h"
#include "fpconv_dtoa.h"
#if REDIS_AOF_HAS_KEY_METADATA
#include "keymeta.h"
#endif
#if REDIS_AOF_HAS_SLOT_TRIM_JOBS
#include "cluster_asm.h"
#endif

/* One row of the layout table: a struct's size or a field's offset, by name. */
struct redis_aof_layout_entry {
    const char *name;
    size_t value;
};
extern const struct redis_aof_layout_entry redis_aof_c_layout[];
extern const size_t redis_aof_c_layout_len;

/* static inline functions and macros of upstream, made callable. */
size_t redis_aof_shim_sdslen(const sds s);
size_t redis_aof_shim_sdsavail(const sds s);
void redis_aof_shim_sdssetlen(sds s, size_t len);
uint64_t redis_aof_shim_client_id_aof(void);
size_t redis_aof_shim_rio_write(rio *r, const void *buf, size_t len);
void redis_aof_shim_rdb_load_progress(rio *r, const void *buf, size_t len);
long long redis_aof_shim_get_expire(redisDb *db, sds key, robj *value);
int redis_aof_shim_db_holds(redisDb *db, sds *scratch, const char *key, size_t len);
robj *redis_aof_shim_entry_value(dictEntry *de);
sds redis_aof_shim_entry_key(dictEntry *de, robj *value);
sds redis_aof_shim_zset_dict_member(dictEntry *de, double *score);
listTypeIterator *redis_aof_shim_list_iter_start(listTypeIterator *storage, robj *o);
void redis_aof_shim_list_iter_stop(listTypeIterator *it);
setTypeIterator *redis_aof_shim_set_iter_start(setTypeIterator *storage, robj *o);
void redis_aof_shim_set_iter_stop(setTypeIterator *it);
hashTypeIterator *redis_aof_shim_hash_iter_start(hashTypeIterator *storage, robj *o);
void redis_aof_shim_hash_iter_stop(hashTypeIterator *it);
kvstoreIterator *redis_aof_shim_kvstore_iter_start(kvstore *kvs);
void redis_aof_shim_kvstore_iter_stop(kvstoreIterator *it);
int redis_aof_shim_rdb_save_key_value(rio *rdb, sds key, robj *val, long long expire, int dbid);
unsigned long long redis_aof_shim_eb_expire_time_invalid(void);
void redis_aof_shim_module_io_init(struct RedisModuleIO *io, moduleType *mt, rio *r, robj *key, int db);
const char *redis_aof_shim_module_type_name(moduleType *mt);

/* Global in rdb.c (rdbSaveRio's first step) but declared in no header of upstream's. */
int rdbSaveInfoAuxFields(rio *rdb, int rdbflags, rdbSaveInfo *rsi);

#endif
