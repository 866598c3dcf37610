/*
 * powerloss.c - LD_PRELOAD shim that journals what a power failure would keep.
 *
 * Built by tests/reliability/powerloss.py with
 *     gcc -shared -fPIC -O2 -o powerloss.so powerloss.c -ldl
 * and preloaded into redis-server (and so into its fork()ed rewrite child).
 *
 * Environment:
 *   POWERLOSS_ROOT     only files and directories whose path starts with this prefix
 *                      are journaled (the server's data dir)
 *   POWERLOSS_JOURNAL  the journal: one line per event, appended with O_APPEND and a
 *                      single write() per record, so records of the main thread, the
 *                      bio thread and the rewrite child never interleave
 *   POWERLOSS_RENAME_DELAY_MS  optional: sleep this long after each journaled rename,
 *                      so the harness can fail the power between a rename and the
 *                      directory fsync that makes it durable
 *   POWERLOSS_SHADOW   a directory on the same filesystem as ROOT; before a journaled
 *                      file loses a name (unlink, or replaced by rename) it gets a hard
 *                      link here, named DEV_INO, so the harness can still read the
 *                      content of a name a power failure would bring back
 *
 * Records (space separated, one per line):
 *   F ino size t0 t1 path   fsync/fdatasync of a regular file succeeded; size is the
 *                           file size taken *before* the call (bytes written before the
 *                           call are covered by it; bytes written concurrently by another
 *                           thread may not be, so they are not claimed); t0/t1 are the
 *                           wall-clock milliseconds when the call began and returned
 *   D t0 t1 path name=ino ...  fsync/fdatasync of a directory succeeded; the listing is
 *                           taken before the call: these names are durable
 *   T ino size path         ftruncate succeeded (the harness lowers the durable size)
 *   R ino from to t         rename succeeded at t (ms); the harness uses the renames of
 *                           the manifest to tell which INCR file was current when
 *   U ino path              unlink succeeded (informative)
 *
 * Paths are resolved with /proc/self/fd, so open() does not need to be interposed, and
 * the size at fsync time comes from fstat(), so write() does not need to be either.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define REC_MAX 65536

static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_rename)(const char *, const char *);
static int (*real_unlink)(const char *);
static int (*real_unlinkat)(int, const char *, int);
static int (*real_ftruncate)(int, off_t);
static int (*real_ftruncate64)(int, off_t);

static void resolve(void) {
    if (real_fsync) return;
    real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
    real_rename = dlsym(RTLD_NEXT, "rename");
    real_unlink = dlsym(RTLD_NEXT, "unlink");
    real_unlinkat = dlsym(RTLD_NEXT, "unlinkat");
    real_ftruncate = dlsym(RTLD_NEXT, "ftruncate");
    real_ftruncate64 = dlsym(RTLD_NEXT, "ftruncate64");
    if (!real_ftruncate64) real_ftruncate64 = real_ftruncate;
    real_fsync = dlsym(RTLD_NEXT, "fsync");
}

__attribute__((constructor)) static void powerloss_init(void) { resolve(); }

static const char *root(void) {
    const char *r = getenv("POWERLOSS_ROOT");
    return (r && *r) ? r : NULL;
}

static int watched(const char *path) {
    const char *r = root();
    return r && strncmp(path, r, strlen(r)) == 0;
}

/* Appends one record; errno is preserved for the caller. */
static void journal(const char *rec, size_t len) {
    const char *j = getenv("POWERLOSS_JOURNAL");
    if (!j) return;
    int saved = errno;
    int fd = open(j, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd != -1) {
        size_t off = 0;
        while (off < len) {
            ssize_t n = write(fd, rec + off, len - off);
            if (n <= 0) break;
            off += (size_t)n;
        }
        close(fd);
    }
    errno = saved;
}

static int fd_path(int fd, char *out, size_t outlen) {
    char link[64];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, out, outlen - 1);
    if (n <= 0) return -1;
    out[n] = '\0';
    return 0;
}

/* Absolute form of a path given to rename/unlink (relative to the cwd). */
static void absolute(const char *path, char *out, size_t outlen) {
    if (path[0] == '/') {
        snprintf(out, outlen, "%s", path);
    } else {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof(cwd))) cwd[0] = '\0';
        snprintf(out, outlen, "%s/%s", cwd, path);
    }
}

struct pending {
    int kind;   /* 0 none, 'F' file, 'D' directory */
    char *rest; /* what follows the times: " path\n" or " path name=ino ...\n" */
    size_t len;
    unsigned long long ino;
    long long size;
    long long t0;
};

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Prepares the record of an fsync before the call (size and listing are taken before). */
static void prepare(int fd, struct pending *p) {
    p->kind = 0;
    p->rest = NULL;
    p->len = 0;
    p->t0 = now_ms();
    if (!root()) return;
    int saved = errno;
    char path[PATH_MAX];
    struct stat st;
    if (fd_path(fd, path, sizeof(path)) == -1 || !watched(path) || fstat(fd, &st) == -1) {
        errno = saved;
        return;
    }
    p->rest = malloc(REC_MAX);
    if (!p->rest) { errno = saved; return; }
    p->ino = (unsigned long long)st.st_ino;
    p->size = (long long)st.st_size;
    if (S_ISREG(st.st_mode)) {
        p->kind = 'F';
        p->len = (size_t)snprintf(p->rest, REC_MAX, " %s\n", path);
    } else if (S_ISDIR(st.st_mode)) {
        p->kind = 'D';
        size_t off = (size_t)snprintf(p->rest, REC_MAX, " %s", path);
        DIR *d = opendir(path);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d)) != NULL) {
                if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
                int n = snprintf(p->rest + off, REC_MAX - off, " %s=%llu", e->d_name,
                                 (unsigned long long)e->d_ino);
                if (n < 0 || (size_t)n >= REC_MAX - off - 2) break;
                off += (size_t)n;
            }
            closedir(d);
        }
        p->rest[off++] = '\n';
        p->len = off;
    } else {
        free(p->rest);
        p->rest = NULL;
    }
    errno = saved;
}

/* Journals the prepared record if the call succeeded. */
static void commit(struct pending *p, int ret) {
    if (!p->rest) return;
    int saved = errno;
    if (ret == 0 && p->kind) {
        char *out = malloc(p->len + 128);
        if (out) {
            int n;
            if (p->kind == 'F')
                n = snprintf(out, 128, "F %llu %lld %lld %lld", p->ino, p->size, p->t0, now_ms());
            else
                n = snprintf(out, 128, "D %lld %lld", p->t0, now_ms());
            memcpy(out + n, p->rest, p->len);
            journal(out, (size_t)n + p->len);
            free(out);
        }
    }
    free(p->rest);
    errno = saved;
}

int fsync(int fd) {
    resolve();
    struct pending p;
    prepare(fd, &p);
    int ret = real_fsync(fd);
    commit(&p, ret);
    return ret;
}

int fdatasync(int fd) {
    resolve();
    struct pending p;
    prepare(fd, &p);
    int ret = real_fdatasync(fd);
    commit(&p, ret);
    return ret;
}

/* Keeps the inode behind `path` reachable from the shadow dir; returns its inode or 0. */
static unsigned long long shadow(const char *abspath) {
    struct stat st;
    const char *sh = getenv("POWERLOSS_SHADOW");
    if (!sh || stat(abspath, &st) == -1 || !S_ISREG(st.st_mode)) return 0;
    char target[PATH_MAX];
    snprintf(target, sizeof(target), "%s/%llu_%llu", sh, (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino);
    if (link(abspath, target) == -1 && errno != EEXIST) {
        /* Not fatal: the harness reports an unreachable inode if it ever needs it. */
    }
    return (unsigned long long)st.st_ino;
}

int rename(const char *from, const char *to) {
    resolve();
    char afrom[PATH_MAX], ato[PATH_MAX];
    int saved = errno;
    absolute(from, afrom, sizeof(afrom));
    absolute(to, ato, sizeof(ato));
    int w = watched(afrom) || watched(ato);
    unsigned long long ino = 0;
    if (w) {
        shadow(ato); /* the replaced inode, if any */
        struct stat st;
        if (stat(afrom, &st) == 0) ino = (unsigned long long)st.st_ino;
    }
    errno = saved;
    int ret = real_rename(from, to);
    if (ret == 0 && w) {
        char rec[2 * PATH_MAX + 64];
        int n = snprintf(rec, sizeof(rec), "R %llu %s %s %lld\n", ino, afrom, ato, now_ms());
        journal(rec, (size_t)n);
        const char *delay = getenv("POWERLOSS_RENAME_DELAY_MS");
        if (delay && atoi(delay) > 0) usleep((useconds_t)atoi(delay) * 1000);
    }
    return ret;
}

int unlink(const char *path) {
    resolve();
    char apath[PATH_MAX];
    int saved = errno;
    absolute(path, apath, sizeof(apath));
    unsigned long long ino = watched(apath) ? shadow(apath) : 0;
    errno = saved;
    int ret = real_unlink(path);
    if (ret == 0 && ino) {
        char rec[PATH_MAX + 64];
        int n = snprintf(rec, sizeof(rec), "U %llu %s\n", ino, apath);
        journal(rec, (size_t)n);
    }
    return ret;
}

int unlinkat(int dirfd, const char *path, int flags) {
    resolve();
    unsigned long long ino = 0;
    char apath[2 * PATH_MAX + 2];
    int saved = errno;
    if (!(flags & AT_REMOVEDIR)) {
        if (path[0] == '/' || dirfd == AT_FDCWD) {
            absolute(path, apath, sizeof(apath));
        } else {
            char dpath[PATH_MAX];
            if (fd_path(dirfd, dpath, sizeof(dpath)) == 0)
                snprintf(apath, sizeof(apath), "%s/%s", dpath, path);
            else
                apath[0] = '\0';
        }
        if (apath[0] && watched(apath)) ino = shadow(apath);
    }
    errno = saved;
    int ret = real_unlinkat(dirfd, path, flags);
    if (ret == 0 && ino) {
        char rec[3 * PATH_MAX];
        int n = snprintf(rec, sizeof(rec), "U %llu %s\n", ino, apath);
        journal(rec, (size_t)n);
    }
    return ret;
}

static void truncated(int fd, off_t len) {
    if (!root()) return;
    int saved = errno;
    char path[PATH_MAX];
    struct stat st;
    if (fd_path(fd, path, sizeof(path)) == 0 && watched(path) && fstat(fd, &st) == 0) {
        char rec[PATH_MAX + 64];
        int n = snprintf(rec, sizeof(rec), "T %llu %lld %s\n", (unsigned long long)st.st_ino,
                         (long long)len, path);
        journal(rec, (size_t)n);
    }
    errno = saved;
}

int ftruncate(int fd, off_t len) {
    resolve();
    int ret = real_ftruncate(fd, len);
    if (ret == 0) truncated(fd, len);
    return ret;
}

int ftruncate64(int fd, off_t len) {
    resolve();
    int ret = real_ftruncate64(fd, len);
    if (ret == 0) truncated(fd, len);
    return ret;
}
