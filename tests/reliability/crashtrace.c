/*
 * crashtrace.c - LD_PRELOAD tracer of every file-system call a redis-server (and its
 * fork()ed rewrite child, which inherits LD_PRELOAD) makes on files under one directory,
 * with enough detail to rebuild every file's content at any point of the trace.
 *
 * Built by tests/reliability/crashstates.py with
 *     gcc -shared -fPIC -O2 -o crashtrace.so crashtrace.c -ldl
 *
 * Environment:
 *   CRASHTRACE_ROOT   only paths starting with this prefix are traced (the data dir,
 *                     given as a real path)
 *   CRASHTRACE_LOG    the trace: every record is appended with one write() on a freshly
 *                     opened O_APPEND descriptor held under flock(LOCK_EX), and its
 *                     CLOCK_MONOTONIC time is read under that lock: the order of the
 *                     records in the file is the order of their times, across the
 *                     threads of the server and the rewrite child. A record is written
 *                     after the call it describes returned (fsyncs also get a record
 *                     before the call), so a call that happened before another in real
 *                     time (caused it) always comes first.
 *
 * Records: "<time_ns> <pid> <tid> <KIND> ...\n"
 *   O <ino> <created> <trunc> <isdir> <path>   open/openat/creat/fopen succeeded; created:
 *                                         the name did not exist before the call; trunc:
 *                                         O_TRUNC (or fopen "w") on a file that existed
 *   W <ino> <off> <len> <hex>             write/pwrite/writev/fwrite of len bytes at off
 *                                         (fwrite: the stream's logical position, so the
 *                                         bytes are recorded when the program hands them
 *                                         to stdio, which is no later than the kernel
 *                                         sees them)
 *   S <id> <ino> <isdir> <path>           fsync/fdatasync is about to be called
 *   E <id> <ret>                          ... and returned ret
 *   R <ino> <replaced_ino> <from> <to>    rename succeeded (replaced_ino 0: no target)
 *   U <ino> <path>                        unlink succeeded
 *   T <ino> <len> <path>                  ftruncate/truncate succeeded
 *   M <ino> <path>                        mkdir succeeded
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define REAL(name) static __typeof__(name) *real_##name
REAL(open);
REAL(open64);
REAL(openat);
REAL(openat64);
REAL(creat);
REAL(creat64);
REAL(fopen);
REAL(fopen64);
REAL(write);
REAL(pwrite);
REAL(pwrite64);
REAL(writev);
REAL(fwrite);
REAL(fsync);
REAL(fdatasync);
REAL(rename);
REAL(renameat);
REAL(unlink);
REAL(unlinkat);
REAL(ftruncate);
REAL(ftruncate64);
REAL(truncate);
REAL(truncate64);
REAL(mkdir);
REAL(mkdirat);

static void *sym(const char *n) { return dlsym(RTLD_NEXT, n); }

static void resolve(void) {
    if (real_write) return;
    real_open = sym("open");
    real_open64 = sym("open64");
    real_openat = sym("openat");
    real_openat64 = sym("openat64");
    real_creat = sym("creat");
    real_creat64 = sym("creat64");
    real_fopen = sym("fopen");
    real_fopen64 = sym("fopen64");
    real_pwrite = sym("pwrite");
    real_pwrite64 = sym("pwrite64");
    real_writev = sym("writev");
    real_fwrite = sym("fwrite");
    real_fsync = sym("fsync");
    real_fdatasync = sym("fdatasync");
    real_rename = sym("rename");
    real_renameat = sym("renameat");
    real_unlink = sym("unlink");
    real_unlinkat = sym("unlinkat");
    real_ftruncate = sym("ftruncate");
    real_ftruncate64 = sym("ftruncate64");
    real_truncate = sym("truncate");
    real_truncate64 = sym("truncate64");
    real_mkdir = sym("mkdir");
    real_mkdirat = sym("mkdirat");
    real_write = sym("write");
}

__attribute__((constructor)) static void crashtrace_init(void) { resolve(); }

static const char *root(void) {
    const char *r = getenv("CRASHTRACE_ROOT");
    return (r && *r) ? r : NULL;
}

static int watched(const char *path) {
    const char *r = root();
    return r && path && strncmp(path, r, strlen(r)) == 0;
}

/* Appends one record (header + body); errno is preserved. */
static void journal(const char *fmt, const char *tail, size_t taillen, ...) {
    const char *j = getenv("CRASHTRACE_LOG");
    if (!j) return;
    int saved = errno;
    char head[3 * PATH_MAX + 256];
    int fd = (int)syscall(SYS_openat, AT_FDCWD, j, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd == -1) { errno = saved; return; }
    flock(fd, LOCK_EX);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int n = snprintf(head, sizeof(head), "%lld %d %ld ",
                     (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec, (int)getpid(),
                     (long)syscall(SYS_gettid));
    va_list ap;
    va_start(ap, taillen);
    n += vsnprintf(head + n, sizeof(head) - (size_t)n, fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof(head)) n = (int)sizeof(head) - 1;
    size_t len = (size_t)n + taillen + 1;
    char *buf = malloc(len);
    if (buf) {
        memcpy(buf, head, (size_t)n);
        if (taillen) memcpy(buf + n, tail, taillen);
        buf[len - 1] = '\n';
        size_t off = 0;
        while (off < len) {
            ssize_t w = syscall(SYS_write, fd, buf + off, len - off);
            if (w <= 0) break;
            off += (size_t)w;
        }
        free(buf);
    }
    flock(fd, LOCK_UN);
    syscall(SYS_close, fd);
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

/* Absolute form of a path relative to dirfd (AT_FDCWD: the cwd). */
static void absolute_at(int dirfd, const char *path, char *out, size_t outlen) {
    if (path[0] == '/') {
        snprintf(out, outlen, "%s", path);
        return;
    }
    char base[PATH_MAX];
    if (dirfd == AT_FDCWD) {
        if (!getcwd(base, sizeof(base))) base[0] = '\0';
    } else if (fd_path(dirfd, base, sizeof(base)) == -1) {
        base[0] = '\0';
    }
    snprintf(out, outlen, "%s/%s", base, path);
}

static unsigned long long ino_of_path(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 ? (unsigned long long)st.st_ino : 0;
}

/* ------------------------------------------------------------------ opens */

static int after_open(int fd, const char *apath, int existed, int flags) {
    if (fd < 0 || !watched(apath)) return fd;
    int saved = errno;
    struct stat st;
    if (fstat(fd, &st) == 0) {
        journal("O %llu %d %d %d %s", NULL, 0, (unsigned long long)st.st_ino, !existed,
                (existed && (flags & O_TRUNC)) ? 1 : 0, S_ISDIR(st.st_mode) ? 1 : 0, apath);
    }
    errno = saved;
    return fd;
}

static int do_openat(int (*fn)(int, const char *, int, ...), int dirfd, const char *path,
                     int flags, mode_t mode) {
    char apath[2 * PATH_MAX];
    int saved = errno;
    absolute_at(dirfd, path, apath, sizeof(apath));
    int w = watched(apath);
    int existed = w ? (access(apath, F_OK) == 0) : 1;
    errno = saved;
    int fd = fn(dirfd, path, flags, mode);
    return w ? after_open(fd, apath, existed, flags) : fd;
}

static int do_open(int (*fn)(const char *, int, ...), const char *path, int flags, mode_t mode) {
    char apath[2 * PATH_MAX];
    int saved = errno;
    absolute_at(AT_FDCWD, path, apath, sizeof(apath));
    int w = watched(apath);
    int existed = w ? (access(apath, F_OK) == 0) : 1;
    errno = saved;
    int fd = fn(path, flags, mode);
    return w ? after_open(fd, apath, existed, flags) : fd;
}

#define MODE_ARG                                   \
    mode_t mode = 0;                               \
    if (flags & (O_CREAT | O_TMPFILE)) {           \
        va_list ap;                                \
        va_start(ap, flags);                       \
        mode = (mode_t)va_arg(ap, int);            \
        va_end(ap);                                \
    }

int open(const char *path, int flags, ...) {
    resolve();
    MODE_ARG
    return do_open(real_open, path, flags, mode);
}
int open64(const char *path, int flags, ...) {
    resolve();
    MODE_ARG
    return do_open(real_open64, path, flags, mode);
}
int __open_2(const char *path, int flags) { resolve(); return do_open(real_open, path, flags, 0); }
int __open64_2(const char *path, int flags) { resolve(); return do_open(real_open64, path, flags, 0); }
int openat(int dirfd, const char *path, int flags, ...) {
    resolve();
    MODE_ARG
    return do_openat(real_openat, dirfd, path, flags, mode);
}
int openat64(int dirfd, const char *path, int flags, ...) {
    resolve();
    MODE_ARG
    return do_openat(real_openat64, dirfd, path, flags, mode);
}
int creat(const char *path, mode_t mode) {
    resolve();
    return do_open(real_open, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}
int creat64(const char *path, mode_t mode) {
    resolve();
    return do_open(real_open64, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

static FILE *do_fopen(FILE *(*fn)(const char *, const char *), const char *path, const char *m) {
    char apath[2 * PATH_MAX];
    int saved = errno;
    absolute_at(AT_FDCWD, path, apath, sizeof(apath));
    int w = watched(apath);
    int existed = w ? (access(apath, F_OK) == 0) : 1;
    errno = saved;
    FILE *fp = fn(path, m);
    if (fp && w) {
        int flags = (m[0] == 'w') ? (O_CREAT | O_TRUNC) : (m[0] == 'a') ? O_CREAT : 0;
        after_open(fileno(fp), apath, existed, flags);
    }
    return fp;
}
FILE *fopen(const char *path, const char *m) { resolve(); return do_fopen(real_fopen, path, m); }
FILE *fopen64(const char *path, const char *m) { resolve(); return do_fopen(real_fopen64, path, m); }

/* ------------------------------------------------------------------ writes */

static const char HEX[] = "0123456789abcdef";

static void log_write(int fd, long long off, const void *data, size_t len) {
    char path[PATH_MAX];
    struct stat st;
    if (fd < 0 || fd_path(fd, path, sizeof(path)) == -1 || !watched(path) ||
        fstat(fd, &st) == -1 || !S_ISREG(st.st_mode))
        return;
    char *hex = malloc(2 * len + 1);
    if (!hex) return;
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        hex[2 * i] = HEX[p[i] >> 4];
        hex[2 * i + 1] = HEX[p[i] & 15];
    }
    journal("W %llu %lld %zu ", hex, 2 * len, (unsigned long long)st.st_ino, off, len);
    free(hex);
}

ssize_t write(int fd, const void *buf, size_t n) {
    resolve();
    ssize_t r = real_write(fd, buf, n);
    if (r > 0 && root()) {
        int saved = errno;
        off_t end = lseek(fd, 0, SEEK_CUR);
        if (end != (off_t)-1) log_write(fd, (long long)end - r, buf, (size_t)r);
        errno = saved;
    }
    return r;
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off) {
    resolve();
    ssize_t r = real_pwrite(fd, buf, n, off);
    if (r > 0 && root()) {
        int saved = errno;
        log_write(fd, (long long)off, buf, (size_t)r);
        errno = saved;
    }
    return r;
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off) {
    resolve();
    ssize_t r = real_pwrite64(fd, buf, n, off);
    if (r > 0 && root()) {
        int saved = errno;
        log_write(fd, (long long)off, buf, (size_t)r);
        errno = saved;
    }
    return r;
}

ssize_t writev(int fd, const struct iovec *iov, int cnt) {
    resolve();
    ssize_t r = real_writev(fd, iov, cnt);
    if (r > 0 && root()) {
        int saved = errno;
        off_t end = lseek(fd, 0, SEEK_CUR);
        char *flat = malloc((size_t)r);
        if (flat && end != (off_t)-1) {
            size_t got = 0;
            for (int i = 0; i < cnt && got < (size_t)r; i++) {
                size_t k = iov[i].iov_len;
                if (k > (size_t)r - got) k = (size_t)r - got;
                memcpy(flat + got, iov[i].iov_base, k);
                got += k;
            }
            log_write(fd, (long long)end - r, flat, (size_t)r);
        }
        free(flat);
        errno = saved;
    }
    return r;
}

size_t fwrite(const void *buf, size_t size, size_t n, FILE *fp) {
    resolve();
    long long off = -1;
    int fd = -1;
    if (root() && size && n) {
        int saved = errno;
        fd = fileno(fp);
        off = (long long)ftello(fp);
        errno = saved;
    }
    size_t r = real_fwrite(buf, size, n, fp);
    if (r > 0 && off >= 0 && fd >= 0) {
        int saved = errno;
        log_write(fd, off, buf, r * size);
        errno = saved;
    }
    return r;
}

/* ------------------------------------------------------------------ syncs */

static unsigned long long sync_counter;

static int do_sync(int (*fn)(int), int fd) {
    char path[PATH_MAX];
    struct stat st;
    unsigned long long id = 0;
    int saved = errno;
    if (root() && fd_path(fd, path, sizeof(path)) == 0 && watched(path) && fstat(fd, &st) == 0) {
        id = ((unsigned long long)getpid() << 32) |
             (__atomic_add_fetch(&sync_counter, 1, __ATOMIC_SEQ_CST) & 0xffffffffULL);
        journal("S %llu %llu %d %s", NULL, 0, id, (unsigned long long)st.st_ino,
                S_ISDIR(st.st_mode) ? 1 : 0, path);
    }
    errno = saved;
    int r = fn(fd);
    if (id) journal("E %llu %d", NULL, 0, id, r);
    return r;
}

int fsync(int fd) { resolve(); return do_sync(real_fsync, fd); }
int fdatasync(int fd) { resolve(); return do_sync(real_fdatasync, fd); }

/* ------------------------------------------------------------------ names */

static void rename_stat(const char *afrom, const char *ato, unsigned long long *ino,
                        unsigned long long *replaced) {
    int saved = errno;
    *ino = ino_of_path(afrom);
    *replaced = ino_of_path(ato);
    errno = saved;
}

int rename(const char *from, const char *to) {
    resolve();
    char afrom[2 * PATH_MAX], ato[2 * PATH_MAX];
    unsigned long long ino = 0, replaced = 0;
    absolute_at(AT_FDCWD, from, afrom, sizeof(afrom));
    absolute_at(AT_FDCWD, to, ato, sizeof(ato));
    int w = watched(afrom) || watched(ato);
    if (w) rename_stat(afrom, ato, &ino, &replaced);
    int r = real_rename(from, to);
    if (r == 0 && w) journal("R %llu %llu %s %s", NULL, 0, ino, replaced, afrom, ato);
    return r;
}

int renameat(int fromfd, const char *from, int tofd, const char *to) {
    resolve();
    char afrom[2 * PATH_MAX], ato[2 * PATH_MAX];
    unsigned long long ino = 0, replaced = 0;
    absolute_at(fromfd, from, afrom, sizeof(afrom));
    absolute_at(tofd, to, ato, sizeof(ato));
    int w = watched(afrom) || watched(ato);
    if (w) rename_stat(afrom, ato, &ino, &replaced);
    int r = real_renameat(fromfd, from, tofd, to);
    if (r == 0 && w) journal("R %llu %llu %s %s", NULL, 0, ino, replaced, afrom, ato);
    return r;
}

int unlink(const char *path) {
    resolve();
    char apath[2 * PATH_MAX];
    int saved = errno;
    absolute_at(AT_FDCWD, path, apath, sizeof(apath));
    unsigned long long ino = watched(apath) ? ino_of_path(apath) : 0;
    errno = saved;
    int r = real_unlink(path);
    if (r == 0 && watched(apath)) journal("U %llu %s", NULL, 0, ino, apath);
    return r;
}

int unlinkat(int dirfd, const char *path, int flags) {
    resolve();
    char apath[2 * PATH_MAX];
    int saved = errno;
    absolute_at(dirfd, path, apath, sizeof(apath));
    unsigned long long ino = watched(apath) ? ino_of_path(apath) : 0;
    errno = saved;
    int r = real_unlinkat(dirfd, path, flags);
    if (r == 0 && watched(apath)) journal("U %llu %s", NULL, 0, ino, apath);
    return r;
}

static void log_ftrunc(int fd, long long len) {
    char path[PATH_MAX];
    struct stat st;
    int saved = errno;
    if (root() && fd_path(fd, path, sizeof(path)) == 0 && watched(path) && fstat(fd, &st) == 0)
        journal("T %llu %lld %s", NULL, 0, (unsigned long long)st.st_ino, len, path);
    errno = saved;
}

int ftruncate(int fd, off_t len) {
    resolve();
    int r = real_ftruncate(fd, len);
    if (r == 0) log_ftrunc(fd, (long long)len);
    return r;
}
int ftruncate64(int fd, off_t len) {
    resolve();
    int r = real_ftruncate64(fd, len);
    if (r == 0) log_ftrunc(fd, (long long)len);
    return r;
}

static void log_trunc(const char *path, long long len) {
    char apath[2 * PATH_MAX];
    int saved = errno;
    absolute_at(AT_FDCWD, path, apath, sizeof(apath));
    if (watched(apath)) journal("T %llu %lld %s", NULL, 0, ino_of_path(apath), len, apath);
    errno = saved;
}
int truncate(const char *path, off_t len) {
    resolve();
    int r = real_truncate(path, len);
    if (r == 0) log_trunc(path, (long long)len);
    return r;
}
int truncate64(const char *path, off_t len) {
    resolve();
    int r = real_truncate64(path, len);
    if (r == 0) log_trunc(path, (long long)len);
    return r;
}

int mkdir(const char *path, mode_t mode) {
    resolve();
    int r = real_mkdir(path, mode);
    if (r == 0) {
        char apath[2 * PATH_MAX];
        int saved = errno;
        absolute_at(AT_FDCWD, path, apath, sizeof(apath));
        if (watched(apath)) journal("M %llu %s", NULL, 0, ino_of_path(apath), apath);
        errno = saved;
    }
    return r;
}
int mkdirat(int dirfd, const char *path, mode_t mode) {
    resolve();
    int r = real_mkdirat(dirfd, path, mode);
    if (r == 0) {
        char apath[2 * PATH_MAX];
        int saved = errno;
        absolute_at(dirfd, path, apath, sizeof(apath));
        if (watched(apath)) journal("M %llu %s", NULL, 0, ino_of_path(apath), apath);
        errno = saved;
    }
    return r;
}
