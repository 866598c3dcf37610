/* Upstream's static inline functions and macros, given a linkable body so Rust can call
 * them. Each is a one-line forward: the logic stays upstream's. */
#include "bindings.h"

size_t redis_aof_shim_sdslen(const sds s) { return sdslen(s); }
size_t redis_aof_shim_sdsavail(const sds s) { return sdsavail(s); }
void redis_aof_shim_sdssetlen(sds s, size_t len) { sdssetlen(s, len); }
uint64_t redis_aof_shim_client_id_aof(void) { return CLIENT_ID_AOF; }
