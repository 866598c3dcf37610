/*
 * faults.c - LD_PRELOAD shim that makes chosen calls on files under the server's data dir
 * fail on their Nth occurrence (issue #19, part 1).
 *
 * Built by tests/reliability/faults.py with
 *     gcc -shared -fPIC -O2 -o faults.so faults.c -ldl -lpthread
 * and preloaded into redis-server (and so into its fork()ed rewrite child, which inherits
 * the rules, their counters and the per-file bookkeeping below as they were at the fork).
 *
 * Environment:
 *   FAULTS_ROOT   only paths starting with this prefix are touched (the server's data dir)
 *   FAULTS_CTL    optional control file holding the rules; it is read again whenever it
 *                 changes (the harness replaces it with rename(2)), so a fault can be armed
 *                 at a chosen moment and cleared again; an empty or missing file: no rules
 *   FAULTS_RULES  rules used until the control file exists (same syntax, ';' between rules)
 *   FAULTS_LOG    event log: one line per record, appended with O_APPEND and one write(2)
 *                 per record, so the main thread, the bio threads and the child never mix
 *
 * A rule (one per line, key=value words; lines starting with '#' are ignored):
 *   op=write|fsync|rename|open|ftruncate|unlink|fork
 *        fsync covers fsync(2) and fdatasync(2) (redis_fsync is fdatasync on Linux);
 *        open covers open/open64/openat/openat64; unlink covers unlink/unlinkat
 *   err=EIO|ENOSPC|EINTR|EAGAIN|EPERM|EACCES|EDQUOT|EROFS|SHORT|DROP
 *        SHORT (write only): the call writes half the bytes and returns that count, and
 *        the next write on that descriptor fails with ENOSPC (a disk filling up mid-write);
 *        DROP (write only): nothing is written, success is returned (sabotage)
 *   match=SUBSTRING   the path (for rename: the source or the target) must contain it
 *   proc=main|child|any   main: the process the shim started in; child: any other
 *                         (the rewrite child); default any
 *   nth=N     the Nth matching call after the rule was (re)loaded is the first to fail (1)
 *   count=N   how many matching calls fail from there on; -1: all of them (default 1)
 * The first line may be `gen=N`; the counters of every rule restart when the file changes.
 *
 * Records in FAULTS_LOG (space separated):
 *   I pid tid op err t_ms path           an injected failure
 *   F pid ino size t0_ms t1_ms path      fsync/fdatasync of a regular file succeeded;
 *                                        size as taken before the call (powerloss.c)
 *   L pid ino from to t_ms path          the injected fsync failure dropped the dirty pages
 *                                        of [from, to): from is the size at the last
 *                                        successful fsync of the inode (or the size when the
 *                                        shim first saw it), to the size at the failure.
 *                                        Linux marks such pages clean after a failed
 *                                        writeback, so a later fsync that succeeds does not
 *                                        write them: the harness zeroes the range in its
 *                                        power-loss images, whatever fsync came later.
 *   C pid ino path                       open(O_CREAT|O_TRUNC) of a watched path: a new
 *                                        (or emptied) file from here on
 *   U pid ino path                       unlink of a watched path succeeded; X pid ino path:
 *                                        a rename replaced this inode. Either way the inode
 *                                        number may now be reused by an unrelated new file
 *                                        (the rewrite child's fopen is not seen here), so
 *                                        the harness forgets what it knew about it.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

enum { OP_WRITE, OP_FSYNC, OP_RENAME, OP_OPEN, OP_FTRUNCATE, OP_UNLINK, OP_FORK, OP_N };
static const char *op_names[OP_N] = {"write", "fsync", "rename", "open", "ftruncate", "unlink",
                                     "fork"};
#define E_SHORT (-1)
#define E_DROP (-2)

struct rule {
    int op, err, proc, nth, count;
    char match[128];
    int seen, hit;
};

#define MAX_RULES 16
#define MAX_FILES 256
static struct rule rules[MAX_RULES];
static int nrules;
static struct timespec ctl_mtime;
static ino_t ctl_ino;
static off_t ctl_size;
static int ctl_seen; /* the control file existed at the last look */
static pid_t main_pid;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static __thread int short_pending_fd = -1;

/* Inode -> size at its last successful fsync (or when first seen). */
static struct { dev_t dev; ino_t ino; long long synced; } files[MAX_FILES];
static int nfiles;

static ssize_t (*real_write)(int, const void *, size_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_rename)(const char *, const char *);
static int (*real_open)(const char *, int, ...);
static int (*real_open64)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_openat64)(int, const char *, int, ...);
static int (*real_ftruncate)(int, off_t);
static int (*real_ftruncate64)(int, off_t);
static int (*real_unlink)(const char *);
static int (*real_unlinkat)(int, const char *, int);
static pid_t (*real_fork)(void);

static void resolve(void) {
    if (real_write) return;
    real_fsync = dlsym(RTLD_NEXT, "fsync");
    real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
    real_rename = dlsym(RTLD_NEXT, "rename");
    real_open = dlsym(RTLD_NEXT, "open");
    real_open64 = dlsym(RTLD_NEXT, "open64");
    real_openat = dlsym(RTLD_NEXT, "openat");
    real_openat64 = dlsym(RTLD_NEXT, "openat64");
    real_ftruncate = dlsym(RTLD_NEXT, "ftruncate");
    real_ftruncate64 = dlsym(RTLD_NEXT, "ftruncate64");
    real_unlink = dlsym(RTLD_NEXT, "unlink");
    real_unlinkat = dlsym(RTLD_NEXT, "unlinkat");
    real_fork = dlsym(RTLD_NEXT, "fork");
    if (!real_open64) real_open64 = real_open;
    if (!real_openat64) real_openat64 = real_openat;
    if (!real_ftruncate64) real_ftruncate64 = real_ftruncate;
    real_write = dlsym(RTLD_NEXT, "write");
}

static void lock(void) { pthread_mutex_lock(&mu); }
static void unlock(void) { pthread_mutex_unlock(&mu); }
static void atfork_prepare(void) { lock(); }
static void atfork_parent(void) { unlock(); }
static void atfork_child(void) { pthread_mutex_init(&mu, NULL); }

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *root(void) {
    const char *r = getenv("FAULTS_ROOT");
    return (r && *r) ? r : NULL;
}

static int watched(const char *path) {
    const char *r = root();
    return r && path && strncmp(path, r, strlen(r)) == 0;
}

/* Appends one record to FAULTS_LOG with raw system calls (never through this shim). */
static void logrec(const char *fmt, ...) {
    const char *j = getenv("FAULTS_LOG");
    if (!j) return;
    int saved = errno;
    char buf[PATH_MAX * 2 + 256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    if (n > (int)sizeof(buf) - 2) n = (int)sizeof(buf) - 2;
    buf[n++] = '\n';
    int fd = (int)syscall(SYS_openat, AT_FDCWD, j, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0) {
        syscall(SYS_write, fd, buf, (size_t)n);
        syscall(SYS_close, fd);
    }
    errno = saved;
}

static int parse_err(const char *s) {
    static const struct { const char *n; int e; } t[] = {
        {"EIO", EIO}, {"ENOSPC", ENOSPC}, {"EINTR", EINTR}, {"EAGAIN", EAGAIN},
        {"EPERM", EPERM}, {"EACCES", EACCES}, {"EDQUOT", EDQUOT}, {"EROFS", EROFS},
        {"SHORT", E_SHORT}, {"DROP", E_DROP}};
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (!strcmp(s, t[i].n)) return t[i].e;
    return EIO;
}

static const char *err_name(int e) {
    switch (e) {
    case EIO: return "EIO";
    case ENOSPC: return "ENOSPC";
    case EINTR: return "EINTR";
    case EAGAIN: return "EAGAIN";
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case EDQUOT: return "EDQUOT";
    case EROFS: return "EROFS";
    case E_SHORT: return "SHORT";
    case E_DROP: return "DROP";
    default: return "E?";
    }
}

/* Parses rules from text (lines or ';'-separated); replaces the current set. */
static void parse_rules(char *text) {
    nrules = 0;
    char *save1 = NULL;
    for (char *line = strtok_r(text, "\n;", &save1); line; line = strtok_r(NULL, "\n;", &save1)) {
        while (*line == ' ' || *line == '\t') line++;
        if (*line == '#' || !*line || !strncmp(line, "gen=", 4)) continue;
        if (nrules >= MAX_RULES) break;
        struct rule r = {.op = -1, .err = EIO, .proc = 0, .nth = 1, .count = 1};
        char *save2 = NULL;
        for (char *w = strtok_r(line, " \t", &save2); w; w = strtok_r(NULL, " \t", &save2)) {
            char *eq = strchr(w, '=');
            if (!eq) continue;
            *eq = '\0';
            const char *k = w, *v = eq + 1;
            if (!strcmp(k, "op")) {
                for (int i = 0; i < OP_N; i++)
                    if (!strcmp(v, op_names[i])) r.op = i;
            } else if (!strcmp(k, "err")) {
                r.err = parse_err(v);
            } else if (!strcmp(k, "match")) {
                snprintf(r.match, sizeof(r.match), "%s", v);
            } else if (!strcmp(k, "proc")) {
                r.proc = !strcmp(v, "main") ? 1 : !strcmp(v, "child") ? 2 : 0;
            } else if (!strcmp(k, "nth")) {
                r.nth = atoi(v);
            } else if (!strcmp(k, "count")) {
                r.count = atoi(v);
            }
        }
        if (r.op >= 0) rules[nrules++] = r;
    }
}

/* Called with mu held: re-reads the control file when it changed. */
static void refresh(void) {
    const char *ctl = getenv("FAULTS_CTL");
    struct stat st;
    if (!ctl || stat(ctl, &st) == -1) {
        if (ctl_seen) { nrules = 0; ctl_seen = 0; }
        return;
    }
    if (ctl_seen && st.st_ino == ctl_ino && st.st_size == ctl_size &&
        st.st_mtim.tv_sec == ctl_mtime.tv_sec && st.st_mtim.tv_nsec == ctl_mtime.tv_nsec)
        return;
    char buf[8192];
    int fd = (int)syscall(SYS_openat, AT_FDCWD, ctl, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    ssize_t n = syscall(SYS_read, fd, buf, sizeof(buf) - 1);
    syscall(SYS_close, fd);
    if (n < 0) return;
    buf[n] = '\0';
    parse_rules(buf);
    ctl_seen = 1;
    ctl_ino = st.st_ino;
    ctl_size = st.st_size;
    ctl_mtime = st.st_mtim;
}

__attribute__((constructor)) static void faults_init(void) {
    resolve();
    main_pid = getpid();
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
    const char *env = getenv("FAULTS_RULES");
    if (env) {
        char buf[4096];
        snprintf(buf, sizeof(buf), "%s", env);
        parse_rules(buf);
    }
}

/* The error to inject for this call (0: none). path may be NULL (fork). */
static int decide(int op, const char *path, const char *path2) {
    if (op != OP_FORK && !watched(path) && !watched(path2)) return 0;
    int saved = errno, err = 0;
    lock();
    refresh();
    int in_child = getpid() != main_pid;
    for (int i = 0; i < nrules && !err; i++) {
        struct rule *r = &rules[i];
        if (r->op != op) continue;
        if ((r->proc == 1 && in_child) || (r->proc == 2 && !in_child)) continue;
        if (r->match[0] && !((path && strstr(path, r->match)) || (path2 && strstr(path2, r->match))))
            continue;
        r->seen++;
        if (r->seen < r->nth) continue;
        if (r->count >= 0 && r->hit >= r->count) continue;
        r->hit++;
        err = r->err;
    }
    unlock();
    if (err)
        logrec("I %d %ld %s %s %lld %s", (int)getpid(), (long)syscall(SYS_gettid), op_names[op],
               err_name(err), now_ms(), path ? path : "-");
    errno = saved;
    return err;
}

static int fd_path(int fd, char *out, size_t outlen) {
    char link[64];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, out, outlen - 1);
    if (n <= 0) return -1;
    out[n] = '\0';
    return 0;
}

static void absolute_at(int dirfd, const char *path, char *out, size_t outlen) {
    if (!path) { out[0] = '\0'; return; }
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

/* Inode bookkeeping (mu held by the caller). */
static int file_slot(dev_t dev, ino_t ino, long long size_if_new) {
    for (int i = 0; i < nfiles; i++)
        if (files[i].dev == dev && files[i].ino == ino) return i;
    int i = nfiles < MAX_FILES ? nfiles++ : (int)(ino % MAX_FILES);
    files[i].dev = dev;
    files[i].ino = ino;
    files[i].synced = size_if_new;
    return i;
}

/* The inode lost its name: a later file may get the same number. */
static void forget(dev_t dev, ino_t ino) {
    lock();
    for (int i = 0; i < nfiles; i++)
        if (files[i].dev == dev && files[i].ino == ino) {
            files[i] = files[--nfiles];
            break;
        }
    unlock();
}

static void first_sight(int fd) {
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        lock();
        file_slot(st.st_dev, st.st_ino, (long long)st.st_size);
        unlock();
    }
}

ssize_t write(int fd, const void *buf, size_t len) {
    resolve();
    char path[PATH_MAX];
    if (fd <= 2 || !root() || fd_path(fd, path, sizeof(path)) == -1 || !watched(path))
        return real_write(fd, buf, len);
    first_sight(fd);
    if (short_pending_fd == fd) {
        short_pending_fd = -1;
        logrec("I %d %ld write ENOSPC-after-short %lld %s", (int)getpid(),
               (long)syscall(SYS_gettid), now_ms(), path);
        errno = ENOSPC;
        return -1;
    }
    int err = decide(OP_WRITE, path, NULL);
    if (!err) return real_write(fd, buf, len);
    if (err == E_DROP) return (ssize_t)len;
    if (err == E_SHORT) {
        if (len > 1) {
            ssize_t n = real_write(fd, buf, len / 2);
            if (n > 0) short_pending_fd = fd;
            return n;
        }
        err = ENOSPC;
    }
    errno = err;
    return -1;
}

static int do_fsync(int fd, int data) {
    resolve();
    char path[PATH_MAX];
    struct stat st;
    int reg = 0;
    if (root() && fd_path(fd, path, sizeof(path)) == 0 && watched(path) && fstat(fd, &st) == 0) {
        reg = S_ISREG(st.st_mode);
        long long t0 = now_ms();
        int err = decide(OP_FSYNC, path, NULL);
        if (err) {
            if (reg) {
                lock();
                int i = file_slot(st.st_dev, st.st_ino, (long long)st.st_size);
                long long from = files[i].synced;
                /* The failed writeback leaves the pages clean: a later fsync does not
                 * write them, so the next successful one starts from here. */
                files[i].synced = (long long)st.st_size;
                unlock();
                logrec("L %d %llu %lld %lld %lld %s", (int)getpid(),
                       (unsigned long long)st.st_ino, from, (long long)st.st_size, now_ms(), path);
            }
            errno = err < 0 ? EIO : err;
            return -1;
        }
        int ret = data ? real_fdatasync(fd) : real_fsync(fd);
        if (ret == 0 && reg) {
            int saved = errno;
            lock();
            int i = file_slot(st.st_dev, st.st_ino, (long long)st.st_size);
            files[i].synced = (long long)st.st_size;
            unlock();
            logrec("F %d %llu %lld %lld %lld %s", (int)getpid(), (unsigned long long)st.st_ino,
                   (long long)st.st_size, t0, now_ms(), path);
            errno = saved;
        }
        return ret;
    }
    return data ? real_fdatasync(fd) : real_fsync(fd);
}

int fsync(int fd) { return do_fsync(fd, 0); }
int fdatasync(int fd) { return do_fsync(fd, 1); }

int rename(const char *from, const char *to) {
    resolve();
    char a[PATH_MAX], b[PATH_MAX];
    int saved = errno;
    absolute_at(AT_FDCWD, from, a, sizeof(a));
    absolute_at(AT_FDCWD, to, b, sizeof(b));
    errno = saved;
    int err = decide(OP_RENAME, a, b);
    if (err) { errno = err < 0 ? EIO : err; return -1; }
    struct stat sf, st;
    int replaced = (watched(b) && lstat(b, &st) == 0 && S_ISREG(st.st_mode) &&
                    !(lstat(a, &sf) == 0 && sf.st_ino == st.st_ino && sf.st_dev == st.st_dev));
    errno = saved;
    int ret = real_rename(from, to);
    if (ret == 0 && replaced) {
        forget(st.st_dev, st.st_ino);
        logrec("X %d %llu %s", (int)getpid(), (unsigned long long)st.st_ino, b);
    }
    return ret;
}

static int open_common(int dirfd, const char *path, int flags) {
    char a[PATH_MAX];
    int saved = errno;
    absolute_at(dirfd, path, a, sizeof(a));
    errno = saved;
    int err = decide(OP_OPEN, a, NULL);
    if (err) { errno = err < 0 ? EIO : err; return -1; }
    (void)flags;
    return 0;
}

/* After a successful open: a file created or emptied starts afresh. */
static int opened(int fd, int dirfd, const char *path, int flags) {
    if (fd < 0 || !root() || (flags & (O_CREAT | O_TRUNC)) != (O_CREAT | O_TRUNC)) return fd;
    int saved = errno;
    char a[PATH_MAX];
    struct stat st;
    absolute_at(dirfd, path, a, sizeof(a));
    if (watched(a) && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        forget(st.st_dev, st.st_ino);
        lock();
        file_slot(st.st_dev, st.st_ino, 0);
        unlock();
        logrec("C %d %llu %s", (int)getpid(), (unsigned long long)st.st_ino, a);
    }
    errno = saved;
    return fd;
}

#define OPEN_MODE(flags, mode)                                    \
    mode_t mode = 0;                                              \
    if ((flags) & (O_CREAT | __O_TMPFILE)) {                      \
        va_list ap;                                               \
        va_start(ap, flags);                                      \
        mode = (mode_t)va_arg(ap, int);                           \
        va_end(ap);                                               \
    }

int open(const char *path, int flags, ...) {
    resolve();
    OPEN_MODE(flags, mode);
    if (root() && open_common(AT_FDCWD, path, flags) == -1) return -1;
    return opened(real_open(path, flags, mode), AT_FDCWD, path, flags);
}

int open64(const char *path, int flags, ...) {
    resolve();
    OPEN_MODE(flags, mode);
    if (root() && open_common(AT_FDCWD, path, flags) == -1) return -1;
    return opened(real_open64(path, flags, mode), AT_FDCWD, path, flags);
}

int openat(int dirfd, const char *path, int flags, ...) {
    resolve();
    OPEN_MODE(flags, mode);
    if (root() && open_common(dirfd, path, flags) == -1) return -1;
    return opened(real_openat(dirfd, path, flags, mode), dirfd, path, flags);
}

int openat64(int dirfd, const char *path, int flags, ...) {
    resolve();
    OPEN_MODE(flags, mode);
    if (root() && open_common(dirfd, path, flags) == -1) return -1;
    return opened(real_openat64(dirfd, path, flags, mode), dirfd, path, flags);
}

static int trunc_common(int fd) {
    char path[PATH_MAX];
    if (!root() || fd_path(fd, path, sizeof(path)) == -1) return 0;
    int err = decide(OP_FTRUNCATE, path, NULL);
    if (err) { errno = err < 0 ? EIO : err; return -1; }
    return 0;
}

int ftruncate(int fd, off_t len) {
    resolve();
    if (trunc_common(fd) == -1) return -1;
    return real_ftruncate(fd, len);
}

int ftruncate64(int fd, off_t len) {
    resolve();
    if (trunc_common(fd) == -1) return -1;
    return real_ftruncate64(fd, len);
}

int unlink(const char *path) {
    resolve();
    char a[PATH_MAX];
    int saved = errno;
    absolute_at(AT_FDCWD, path, a, sizeof(a));
    errno = saved;
    int err = decide(OP_UNLINK, a, NULL);
    if (err) { errno = err < 0 ? EIO : err; return -1; }
    struct stat st;
    int known = watched(a) && lstat(a, &st) == 0 && S_ISREG(st.st_mode);
    errno = saved;
    int ret = real_unlink(path);
    if (ret == 0 && known) {
        forget(st.st_dev, st.st_ino);
        logrec("U %d %llu %s", (int)getpid(), (unsigned long long)st.st_ino, a);
    }
    return ret;
}

int unlinkat(int dirfd, const char *path, int flags) {
    resolve();
    char a[PATH_MAX];
    int saved = errno;
    absolute_at(dirfd, path, a, sizeof(a));
    errno = saved;
    int err = decide(OP_UNLINK, a, NULL);
    if (err) { errno = err < 0 ? EIO : err; return -1; }
    struct stat st;
    int known = !(flags & AT_REMOVEDIR) && watched(a) && lstat(a, &st) == 0 && S_ISREG(st.st_mode);
    errno = saved;
    int ret = real_unlinkat(dirfd, path, flags);
    if (ret == 0 && known) {
        forget(st.st_dev, st.st_ino);
        logrec("U %d %llu %s", (int)getpid(), (unsigned long long)st.st_ino, a);
    }
    return ret;
}

pid_t fork(void) {
    resolve();
    int err = decide(OP_FORK, NULL, NULL);
    if (err) { errno = err < 0 ? EAGAIN : err; return -1; }
    return real_fork();
}
