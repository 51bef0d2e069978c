/* The "posa-wal" VFS: SQLite's default one, except that what SQLite appends to a WAL file is
 * gathered and written once per transaction (wal_gather.h). */
#include "cache/wal_gather.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FRAME_HEADER 24 /* a WAL frame's header: page number, then the commit size */
/* At most this much goes out in one write: the default VFS's write takes less than 128 KiB
 * at a time (it masks the length to 17 bits), and a transaction's frames go in pieces. */
#define GATHER_MAX (1 << 16)

struct gather_file {
    sqlite3_file base;  /* pMethods is gather_methods */
    sqlite3_file *real; /* the default VFS's file, in the same allocation, after this */
    int wal;            /* a WAL file: its appends are gathered */
    int commit_next;    /* the last write was a commit frame's header: its page ends it */
    char *buf; /* GATHER_MAX bytes, allocated by the first append */
    size_t len;
    sqlite3_int64 off; /* where buf[0] goes in the file */
    int sync_fd;       /* a WAL file's own descriptor for wal_gather_sync_fd (-1: none) */
};

/* The real file's methods stay the default VFS's; sqlite3_file is their first member. */
#define REAL(f) (((struct gather_file *)(f))->real)
#define CALL(f, m, ...) (REAL(f)->pMethods->m(REAL(f), __VA_ARGS__))

static int flush(struct gather_file *g)
{
    int rc;

    if (!g->len)
        return SQLITE_OK;
    rc = CALL(g, xWrite, g->buf, (int)g->len, g->off);
    g->len = 0;
    return rc;
}

static int gather_write(sqlite3_file *f, const void *data, int amt, sqlite3_int64 off)
{
    struct gather_file *g = (struct gather_file *)f;
    const unsigned char *d = data;
    int rc;

    if (!g->wal)
        return CALL(f, xWrite, data, amt, off);
    /* Not where the gathered bytes end, or no room left: those go out first. */
    if (g->len && (off != g->off + (sqlite3_int64)g->len || g->len + (size_t)amt > GATHER_MAX) &&
        (rc = flush(g)) != SQLITE_OK)
        return rc;
    if (!g->buf)
        g->buf = malloc(GATHER_MAX);
    if (!g->buf || (size_t)amt > GATHER_MAX) {
        g->commit_next = 0;
        return CALL(f, xWrite, data, amt, off); /* as SQLite would have */
    }
    if (!g->len)
        g->off = off;
    memcpy(g->buf + g->len, data, (size_t)amt);
    g->len += (size_t)amt;
    if (amt == FRAME_HEADER && (d[4] | d[5] | d[6] | d[7])) {
        g->commit_next = 1; /* a commit frame: out with its page, before SQLite publishes it */
        return SQLITE_OK;
    }
    if (!g->commit_next)
        return SQLITE_OK;
    g->commit_next = 0; /* even when its header went out ahead of it, to make room */
    return flush(g);
}

/* Everything that reads, sizes, syncs, truncates or closes the file sees what was gathered. */
static int gather_read(sqlite3_file *f, void *data, int amt, sqlite3_int64 off)
{
    int rc = flush((struct gather_file *)f);

    return rc != SQLITE_OK ? rc : CALL(f, xRead, data, amt, off);
}

static int gather_sync(sqlite3_file *f, int flags)
{
    int rc = flush((struct gather_file *)f);

    return rc != SQLITE_OK ? rc : CALL(f, xSync, flags);
}

static int gather_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    int rc = flush((struct gather_file *)f);

    return rc != SQLITE_OK ? rc : CALL(f, xTruncate, size);
}

static int gather_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    int rc = flush((struct gather_file *)f);

    return rc != SQLITE_OK ? rc : CALL(f, xFileSize, size);
}

static int gather_close(sqlite3_file *f)
{
    struct gather_file *g = (struct gather_file *)f;
    int rc = flush(g), closed = REAL(f)->pMethods->xClose(REAL(f));

    free(g->buf);
    g->buf = NULL;
    if (g->sync_fd >= 0)
        close(g->sync_fd);
    g->sync_fd = -1;
    return rc != SQLITE_OK ? rc : closed;
}

/* The rest is the default VFS's, unchanged. */
static int gather_lock(sqlite3_file *f, int lock)
{
    return CALL(f, xLock, lock);
}

static int gather_unlock(sqlite3_file *f, int lock)
{
    return CALL(f, xUnlock, lock);
}

static int gather_reserved(sqlite3_file *f, int *out)
{
    return CALL(f, xCheckReservedLock, out);
}

static int gather_file_control(sqlite3_file *f, int op, void *arg)
{
    return CALL(f, xFileControl, op, arg);
}

static int gather_sector_size(sqlite3_file *f)
{
    return REAL(f)->pMethods->xSectorSize(REAL(f));
}

static int gather_device(sqlite3_file *f)
{
    return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}

static int gather_shm_map(sqlite3_file *f, int region, int size, int extend, void volatile **out)
{
    return CALL(f, xShmMap, region, size, extend, out);
}

static int gather_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    return CALL(f, xShmLock, offset, n, flags);
}

static void gather_shm_barrier(sqlite3_file *f)
{
    REAL(f)->pMethods->xShmBarrier(REAL(f));
}

static int gather_shm_unmap(sqlite3_file *f, int delete_flag)
{
    return CALL(f, xShmUnmap, delete_flag);
}

static int gather_fetch(sqlite3_file *f, sqlite3_int64 off, int amt, void **out)
{
    int rc = flush((struct gather_file *)f);

    return rc != SQLITE_OK ? rc : CALL(f, xFetch, off, amt, out);
}

static int gather_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
    return CALL(f, xUnfetch, off, p);
}

static const sqlite3_io_methods gather_methods = {
    .iVersion = 3,
    .xClose = gather_close,
    .xRead = gather_read,
    .xWrite = gather_write,
    .xTruncate = gather_truncate,
    .xSync = gather_sync,
    .xFileSize = gather_file_size,
    .xLock = gather_lock,
    .xUnlock = gather_unlock,
    .xCheckReservedLock = gather_reserved,
    .xFileControl = gather_file_control,
    .xSectorSize = gather_sector_size,
    .xDeviceCharacteristics = gather_device,
    .xShmMap = gather_shm_map,
    .xShmLock = gather_shm_lock,
    .xShmBarrier = gather_shm_barrier,
    .xShmUnmap = gather_shm_unmap,
    .xFetch = gather_fetch,
    .xUnfetch = gather_unfetch,
};

static sqlite3_vfs gather_vfs;

static int gather_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags,
                       int *out_flags)
{
    sqlite3_vfs *real_vfs = vfs->pAppData;
    struct gather_file *g = (struct gather_file *)f;
    int rc;

    memset(g, 0, sizeof *g);
    g->real = (sqlite3_file *)(g + 1);
    g->sync_fd = -1;
    rc = real_vfs->xOpen(real_vfs, name, g->real, flags, out_flags);
    if (rc != SQLITE_OK)
        return rc; /* pMethods stays NULL: SQLite does not close what did not open */
    /* Methods older than version 3 would lack the ones forwarded above. */
    if (g->real->pMethods->iVersion < 3) {
        g->real->pMethods->xClose(g->real);
        return SQLITE_CANTOPEN;
    }
    g->wal = (flags & SQLITE_OPEN_WAL) != 0;
    /* Opened after SQLite's, so the same file; it lives as long as SQLite's does. */
    if (g->wal)
        g->sync_fd = open(name, O_RDONLY | O_CLOEXEC);
    g->base.pMethods = &gather_methods;
    return SQLITE_OK;
}

int wal_gather_sync_fd(sqlite3 *db)
{
    sqlite3_file *f = NULL;

    if (sqlite3_file_control(db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &f) != SQLITE_OK || !f ||
        f->pMethods != &gather_methods)
        return -1;
    return ((struct gather_file *)f)->sync_fd;
}

int wal_gather_register(void)
{
    sqlite3_mutex *m;
    sqlite3_vfs *real;
    int rc = sqlite3_initialize();

    if (rc != SQLITE_OK)
        return rc;
    m = sqlite3_mutex_alloc(SQLITE_MUTEX_STATIC_APP1);
    sqlite3_mutex_enter(m);
    if (sqlite3_vfs_find(WAL_GATHER_VFS)) {
        sqlite3_mutex_leave(m);
        return SQLITE_OK;
    }
    real = sqlite3_vfs_find(NULL);
    if (!real) {
        sqlite3_mutex_leave(m);
        return SQLITE_ERROR;
    }
    /* The default VFS's functions ignore the VFS they are given except xOpen, which gets its
     * own; so the copy keeps them and replaces xOpen alone. */
    gather_vfs = *real;
    gather_vfs.szOsFile = (int)sizeof(struct gather_file) + real->szOsFile;
    gather_vfs.zName = WAL_GATHER_VFS;
    gather_vfs.pNext = NULL;
    gather_vfs.pAppData = real;
    gather_vfs.xOpen = gather_open;
    rc = sqlite3_vfs_register(&gather_vfs, 0);
    sqlite3_mutex_leave(m);
    return rc;
}

int wal_gather_open_checkpointer(const char *path, sqlite3 **ret)
{
    int rc =
        sqlite3_open_v2(path, ret, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, WAL_GATHER_VFS);

    if (rc == SQLITE_OK)
        rc = sqlite3_exec(*ret, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        sqlite3_close(*ret);
        *ret = NULL;
    }
    return rc;
}

int wal_gather_checkpoint(sqlite3 *db, int *copied)
{
    int rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, copied);

    if (rc == SQLITE_BUSY) {
        *copied = 0;
        return SQLITE_OK;
    }
    return rc;
}
