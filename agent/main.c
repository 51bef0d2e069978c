/* posad: the point-of-settlement agent. Reads the config, opens the journal (rows left
 * `sent` by a crash become `unknown`), starts the database thread, the platform client,
 * the outbox, the resolver and the local HTTP server, and runs one libuv loop. SIGTERM
 * drains and exits; SIGHUP reopens the log, reloads the TLS certificate and the config's
 * reloadable keys (reload_config). Exit codes: 0 stopped, 1 a failure at start (the
 * database, the socket, the lock, the card library) or the database failed while it ran,
 * 2 bad usage or config. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "agent/log.h"
#include "agent/posad.h"
#include "agent/seal.h"
#include "interface/his/responses.h"
#include "cache/db.h"
#include "cache/journal.h"
#include "core/bound.h"
#include "core/container_of.h"
#include "core/err.h"

static void on_request(struct http_server *server, struct http_request *req, void *data)
{
    struct posad *pd = data;

    (void)server;
    pd->requests++;
    req->data = pd;
    his_handle(pd, req); /* agent/his_api.c routes every request, unknown paths too */
}

/* --- wiring callbacks ------------------------------------------------------------------ */

static void on_up_queued(struct upstream *up)
{
    struct posad *pd = container_of(up, struct posad, up);

    outbox_kick(&pd->outbox);
}

static void on_up_unknown(struct upstream *up)
{
    struct posad *pd = container_of(up, struct posad, up);

    resolver_kick(&pd->resolver);
}

static void on_up_health(struct upstream *up, enum upstream_health old)
{
    struct posad *pd = container_of(up, struct posad, up);

    if (up->health == UPSTREAM_ONLINE) {
        outbox_kick(&pd->outbox);
        resolver_kick(&pd->resolver);
        if (!pd->desk.catalog_fresh)
            desk_catalog_refresh(&pd->desk); /* the split needs it; fetched once online */
    }
    if (up->health != old) { /* upstream_online, upstream_degraded, upstream_offline */
        struct json_object *o = json_object_new_object();
        const char *state = upstream_health_name(up->health);
        char name[32];

        snprintf(name, sizeof name, "upstream_%s", state);
        json_object_object_add(o, "state", json_object_new_string(state));
        desk_event(&pd->desk, NULL, name, o);
    }
}

/* --- shutdown ------------------------------------------------------------------------ */

#define STOP_WRITES_MS 5000

static void on_client_closed(void *data)
{
    (void)data;
}

static void on_worker_closed(struct db_worker *w)
{
    (void)w;
}

static void on_signal_closed(uv_handle_t *h)
{
    (void)h;
}

/* Waits until nothing is in flight (HIS requests, upstream messages), then closes all. */
static void on_stop_tick(uv_timer_t *t)
{
    struct posad *pd = t->data;

    if (pd->requests > 0 || pd->up.in_flight > 0 || pd->up.recording || pd->outbox.draining ||
        pd->resolver.busy)
        return;
    /* The answers written, unless a client does not read them for STOP_WRITES_MS after the
     * last one was given (a settle may be answered long after SIGTERM). */
    if (!pd->stop_answered_ms)
        pd->stop_answered_ms = uv_now(pd->loop);
    if (http_server_connections(pd->server) > 0 &&
        uv_now(pd->loop) - pd->stop_answered_ms < STOP_WRITES_MS)
        return;
    uv_timer_stop(t);
    uv_close((uv_handle_t *)t, NULL);
    http_server_close(pd->server, NULL, NULL);
    upstream_stop(&pd->up);
    platform_client_close(pd->client, on_client_closed, pd);
    db_worker_stop(&pd->db, on_worker_closed);
    uv_close((uv_handle_t *)&pd->sigterm, on_signal_closed);
    uv_close((uv_handle_t *)&pd->sigint, on_signal_closed);
    uv_close((uv_handle_t *)&pd->sighup, on_signal_closed);
    log_event(LOGL_INFO, "stopped", NULL);
}

static void posad_stop(struct posad *pd)
{
    if (pd->stopping)
        return;
    pd->stopping = true;
    log_event(LOGL_INFO, "stopping", NULL);
    desk_events_close(&pd->desk);
    desk_catalog_stop(&pd->desk);
    desk_retention_stop(&pd->desk);
    desk_reconcile_stop(&pd->desk);
    /* Requests in hand are answered before their connections close (a settle waiting for
     * the platform gets its answer, not a closed connection). */
    http_server_drain(pd->server);
    desk_cards_stop(&pd->desk);
    outbox_stop(&pd->outbox);
    resolver_stop(&pd->resolver);
    pd->up.stopping = true;
    uv_timer_init(pd->loop, &pd->stop_timer);
    pd->stop_timer.data = pd;
    uv_timer_start(&pd->stop_timer, on_stop_tick, 0, 20);
}

/* The HIS API's certificate and key, read with the config so that --check-config tries
 * them too. */
static int load_tls(struct posad *pd, char *msg, size_t cap)
{
    char why[300];

    if (!pd->cfg.tls_cert[0])
        return 0;
    pd->tls = http_tls_context(pd->cfg.tls_cert, pd->cfg.tls_key, why, sizeof why);
    if (!pd->tls) {
        snprintf(msg, cap, "[his] tls_cert, tls_key: %s", why);
        return POSA_EFIELD;
    }
    return 0;
}

/* SIGHUP: a renewed certificate for the connections to come (those open keep theirs); one
 * that does not load leaves the old in place. */
static void reload_tls(struct posad *pd)
{
    char msg[400];

    if (!pd->cfg.tls_cert[0])
        return;
    if (load_tls(pd, msg, sizeof msg) != 0) {
        log_event(LOGL_ERROR, "tls_reload_failed", "error", msg, NULL);
        return;
    }
    if (http_tls_dates_warning(pd->tls, msg, sizeof msg))
        log_event(LOGL_WARN, "tls_certificate_dates", "cert", pd->cfg.tls_cert, "warning", msg,
                  NULL);
    http_server_use_tls(pd->server, pd->tls);
    pd->tls = NULL;
    log_event(LOGL_INFO, "tls_reloaded", "cert", pd->cfg.tls_cert, NULL);
}

/* The file, then the command line's overrides, then the cross-key checks: 0, or
 * POSA_EFIELD (-errno) with msg. */
static int load_config(struct posad_config *cfg, const char *path, char *const *overrides,
                       char *msg, size_t cap)
{
    static const char *const keys[][2] = {
        {"upstream", "url"}, {"posad", "data_dir"}, {"posad", "listen"}, {"posad", "socket"}};
    int err;

    config_defaults(cfg);
    if ((err = config_load(cfg, path, msg, cap)) != 0)
        return err;
    for (int i = 0; i < 4; i++) {
        if (overrides[i] && (err = config_set(cfg, keys[i][0], keys[i][1], overrides[i],
                                              "command line", msg, cap)) != 0)
            return err;
    }
    return config_check(cfg, path, msg, cap);
}

/* SIGHUP: the config file read again; what a reload can apply (desk_reload) is applied when
 * the whole file is valid, the rest is named in the log as waiting for a restart. 0, or the
 * refusal's code: a refused file keeps the TLS certificate too (reload_tls is not called), as
 * one refused for a key every account may read must not have that key loaded. */
static int reload_config(struct posad *pd)
{
    struct posad_config *next = malloc(sizeof *next), *merged = malloc(sizeof *merged);
    struct config_changes ch;
    bool policy_changed = false;
    char msg[600], why[512];
    int err = -ENOMEM;

    snprintf(msg, sizeof msg, "out of memory");
    if (next && merged && !(err = load_config(next, pd->config_path, pd->overrides, msg,
                                              sizeof msg))) {
        *merged = pd->cfg;
        config_reload(merged, next, &ch);
        /* The file is valid; with what stays running until a restart (the listener) it may
         * not be: said so, the values quoted being the running ones, not the file's. */
        if ((err = config_check(merged, pd->config_path, why, sizeof why)))
            snprintf(msg, sizeof msg, "with what runs until a restart: %s", why);
        else
            err = desk_reload(&pd->desk, merged, &policy_changed, msg, sizeof msg);
    }
    if (err) {
        log_event(LOGL_ERROR, "config_reload_failed", "error", msg, "kept",
                  pd->cfg.tls_cert[0] ? "the running config and TLS certificate"
                                      : "the running config",
                  NULL);
    } else {
        pd->cfg = *merged;
        /* The file's path is a key; its rules changed in place are not (an edited deductible
         * took effect while the log said nothing changed). */
        if (policy_changed && !strstr(ch.applied, "[policy] file"))
            snprintf(ch.applied + strlen(ch.applied), sizeof ch.applied - strlen(ch.applied),
                     "%s[policy] file (its contents)", ch.applied[0] ? ", " : "");
        log_event(ch.ignored[0] ? LOGL_WARN : LOGL_INFO, "config_reloaded", "applied",
                  ch.applied[0]   ? ch.applied
                  : ch.ignored[0] ? "nothing (what changed waits for a restart)"
                                  : "nothing changed",
                  "restart_needed", ch.ignored[0] ? ch.ignored : NULL, NULL);
    }
    free(next);
    free(merged);
    desk_seal_key_check(&pd->desk);
    return err;
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct posad *pd = s->data;

    if (signum == SIGHUP) {
        int err = log_reopen();
        log_event(err ? LOGL_ERROR : LOGL_INFO, err ? "log_reopen_failed" : "log_reopened", "path",
                  err ? pd->cfg.log_file : NULL, "error", err ? log_open_why(err) : NULL, "kept",
                  err ? "the log file open before" : NULL, NULL);
        if (reload_config(pd) == 0)
            reload_tls(pd);
        return;
    }
    posad_stop(pd);
}

/* --- start ------------------------------------------------------------------------------ */

#ifdef POSA_JEMALLOC
/* jemalloc gives freed pages back to the kernel only while the process allocates: an idle
 * posad kept the 30 MB two 5,000-line bills took, where architecture.md wants it under 20
 * MB. Its background thread gives them back after the decay time (10 s) instead. */
const char *malloc_conf = "background_thread:true";
#endif

static void usage(FILE *f)
{
    fprintf(f, "usage: posad --config FILE [--upstream URL] [--data-dir DIR] "
               "[--listen HOST:PORT] [--socket PATH]\n"
               "       posad --check-config FILE\n"
               "       posad --version\n");
}

/* The data directory, made 0700, or one of posad's own narrowed to 0700 (restored from a
 * backup with loose modes): a file, a directory of another user's, or a shared one (sticky,
 * as /tmp is) is refused, never chmodded. */
static int make_data_dir(const char *dir, const char **why)
{
    struct stat st;

    *why = NULL;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return -errno;
    if (stat(dir, &st) != 0) /* a symlink to posad's own directory is that directory */
        return -errno;
    if (!S_ISDIR(st.st_mode))
        *why = "not a directory";
    else if (st.st_uid != geteuid())
        *why = "a directory of another user's: give posad one of its own";
    else if (st.st_mode & S_ISVTX)
        *why = "a shared directory (sticky, as /tmp is): give posad one of its own";
    if (*why)
        return -EPERM;
    if ((st.st_mode & 07777) != 0700 && chmod(dir, 0700) != 0)
        return -errno;
    return 0;
}

/* Said once: from now on every request that needs the database fails (db_worker.h), and
 * posad's exit, when it is stopped, says it failed. */
static void on_db_failed(struct db_worker *w, int err)
{
    container_of(w, struct posad, db)->exit_code = 1;
    log_event(LOGL_ERROR, "database_failed", "error", strerror(err), "action",
              "an fsync of the journal's WAL failed: every request that needs the database "
              "fails until posad is restarted; check the disk",
              NULL);
}

static void on_db_damaged(struct db_worker *w)
{
    (void)w;
    log_event(LOGL_ERROR, "database_damaged", "action",
              "a page of posad.db is damaged: requests that touch it fail; stop posad, copy "
              "the data directory aside, and restore posad.db from a backup (sqlite3 posad.db "
              "'PRAGMA integrity_check' names the damage)",
              NULL);
}

/* A start given up after start_server: the socket it made goes (else posactl heard
 * "connection refused" from a file nobody listens on, not "no such file"). Returns 1. */
static int stop_listening(struct posad *pd)
{
    if (pd->cfg.socket[0])
        unlink(pd->cfg.socket);
    return 1;
}

/* A reason posad cannot start, once its log is open: said on stderr, for whoever started it,
 * and in the log (log_file), where a service's stderr may go nowhere. */
static void start_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void start_error(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "posad: %s\n", msg);
    log_event(LOGL_ERROR, "start_failed", "error", msg, NULL);
}

/* Takes the lock at path (a file holding the pid) for as long as the process lives; the
 * kernel lets it go however posad ends. what names what it guards in the refusal, and
 * each what there is one posad per. */
static int lock_file(const char *path, const char *what, const char *each)
{
    char pid[24] = "";
    int fd, n;

    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || fchmod(fd, 0600) < 0) { /* one an older run left may be wider */
        start_error("%s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;

        n = (int)read(fd, pid, sizeof pid - 1);
        pid[n > 0 ? strcspn(pid, "\n") : 0] = '\0';
        if (e == EWOULDBLOCK)
            start_error("%s is in use by another posad%s%s%s: one posad per %s", what,
                        pid[0] ? " (pid " : "", pid, pid[0] ? ")" : "", each);
        else
            start_error("%s: %s", path, strerror(e));
        close(fd);
        return -1;
    }
    n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n)
        log_event(LOGL_WARN, "lock_pid_not_written", "path", path, "error", strerror(errno),
                  "action", "none: the lock holds all the same", NULL);
    return 0; /* fd stays open: the lock is the process's */
}

/* ... and the database file itself, which a hard link names by another path (and another
 * ".lock") that the path's lock cannot see. flock is the file's own, whatever its name, and
 * apart from the fcntl locks SQLite takes on it; the fd stays open for the process's life
 * (SQLite's locks would go with any fd of the file closed). Creates the file, as
 * db_create_private would, so that the first start is locked too. */
static int lock_database_file(const char *db_path)
{
    int fd = open(db_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);

    if (fd < 0) {
        start_error("%s: %s", db_path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        if (e == EWOULDBLOCK)
            start_error("database %s is in use by another posad, under another name (a hard "
                        "link): one posad per database",
                        db_path);
        else
            start_error("%s: %s", db_path, strerror(e));
        close(fd);
        return -1;
    }
    return 0;
}

/* The database's path in the data directory dir. */
static void database_path(const char *dir, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/posad.db", dir);
}

/* One posad per database: a second one would sign in again, and its restart would turn the
 * first one's messages in flight `unknown` under it. The lock is the database's path +
 * ".lock", beside the database itself: posad.db may be a link to another disk, and a data
 * directory copied with its link ran a second posad on the same journal (which resolved the
 * first one's messages under it) while each held a lock in its own directory. */
static int lock_database(const char *dir, const char *db_path, bool exists)
{
    char path[PATH_MAX + 8], what[PATH_MAX + 16], own[PATH_MAX + 16];
    char *real_db = realpath(db_path, NULL), *real_dir = realpath(dir, NULL); /* NULL: new */
    bool linked;
    int err;

    database_path(real_dir ? real_dir : dir, own, sizeof own);
    snprintf(path, sizeof path, "%s.lock", real_db ? real_db : db_path);
    linked = real_db && strcmp(real_db, own) != 0;
    snprintf(what, sizeof what, "%s %s", linked ? "database" : "data_dir", linked ? real_db : dir);
    err = lock_file(path, what, linked ? "database" : "data directory");
    if (!err && exists) /* not made here: a file only SQLite writes (open_journal) */
        err = lock_database_file(db_path);
    free(real_db);
    free(real_dir);
    return err;
}

/* Whether dir's file system has less than a WAL's worth left: SQLite says a failed write
 * at open as "disk I/O error", which sent IT staff to the hardware. */
static bool disk_nearly_full(const char *dir)
{
    struct statvfs fs;

    return statvfs(dir, &fs) == 0 && (uint64_t)fs.f_bavail * fs.f_frsize < (4u << 20);
}

/* The data directory made and this posad's alone (lock_database): before posad listens, so
 * that a second posad is told of the first by its pid, not of a port in use. */
static int claim_data_dir(struct posad *pd)
{
    char path[CONFIG_PATH_MAX + 16];
    struct stat st;
    const char *why;
    int err = make_data_dir(pd->cfg.data_dir, &why);

    if (err) {
        start_error("data_dir %s: %s", pd->cfg.data_dir, why ? why : strerror(-err));
        return err;
    }
    database_path(pd->cfg.data_dir, path, sizeof path);
    return lock_database(pd->cfg.data_dir, path, stat(path, &st) == 0) != 0 ? -EBUSY : 0;
}

/* posad.db being made: a marker beside it from before the file exists until its first
 * commit. A first start killed in between left an empty posad.db, which every later start
 * refused as a restore cut short (found by killing posad at random). */
static void creating_path(const char *db_path, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s.creating", db_path);
}

/* The marker, on disk before the database's own entry can be (the directory synced). */
static int creating_mark(const char *dir, const char *marker)
{
    int fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600), err = 0;

    if (fd < 0)
        return -errno;
    futimens(fd, NULL); /* one an earlier start left: its time is this start's */
    close(fd);
    if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return -errno;
    if (fsync(fd) != 0)
        err = -errno;
    close(fd);
    return err;
}

/* An empty posad.db made right after the marker: posad's own, killed before its first
 * commit. It and what SQLite began beside it go; the start makes the database anew. Not a
 * link (a database on another disk, which posad never makes), nor a file put there later
 * (a restore cut short, beside a marker a killed start left). */
#define CREATION_WINDOW_S 60
static bool creation_interrupted(const char *path, const char *marker)
{
    static const char *const beside[] = {"-journal", "-wal", "-shm"};
    char other[CONFIG_PATH_MAX + 32];
    struct stat db, mark;

    if (lstat(path, &db) != 0 || !S_ISREG(db.st_mode) || stat(marker, &mark) != 0 ||
        db.st_ctime < mark.st_mtime || db.st_ctime > mark.st_mtime + CREATION_WINDOW_S)
        return false;
    for (size_t i = 0; i < sizeof beside / sizeof beside[0]; i++) {
        snprintf(other, sizeof other, "%s%s", path, beside[i]);
        unlink(other);
    }
    unlink(path);
    log_event(LOGL_WARN, "database_creation_resumed", "path", path, "action",
              "an earlier first start ended before the new journal was made: made now", NULL);
    return true;
}

/* The database opened (after claim_data_dir and once posad listens): its rows a crash left
 * `sent` made `unknown`, and the database thread started. */
static int open_journal(struct posad *pd, char last_msgid[MSGID_LEN + 1])
{
    char path[CONFIG_PATH_MAX + 16], marker[CONFIG_PATH_MAX + 32];
    struct db *db = NULL;
    struct stat st;
    bool created; /* nothing made posad.db before (lock_database leaves a new one to SQLite) */
    int moved = 0, err;

    database_path(pd->cfg.data_dir, path, sizeof path);
    creating_path(path, marker, sizeof marker);
    created = stat(path, &st) != 0 || (st.st_size == 0 && creation_interrupted(path, marker));
    if (created && (err = creating_mark(pd->cfg.data_dir, marker)) != 0) {
        start_error("journal %s: %s", marker, strerror(-err));
        return err;
    }
    /* SQLite takes an empty file for an empty database: a restore or a copy cut short would
     * start a new journal over the one it stood for. A new install has no file at all. */
    if (!created && st.st_size == 0) {
        start_error("journal %s: the file is empty (0 bytes), not a database posad wrote: "
                    "restore posad.db, or remove the empty file to start a new, empty journal",
                    path);
        return POSA_ECORRUPT;
    }
    /* Another account's (a restore as another user; posad as root): the file would keep
     * letting that account read and change the journal, whatever mode posad gives it. */
    if (!created && st.st_uid != geteuid()) {
        start_error("journal %s: owned by another account (uid %u), which could read and change "
                    "it: chown it (and its -wal, -shm) to posad's user",
                    path, (unsigned)st.st_uid);
        return -EPERM;
    }
    if (pd->cfg.seal_key_file[0]) {
        char what[256];

        err = seal_key_load(pd->cfg.seal_key_file, pd->cfg.seal_cipher, &pd->seal_key, what,
                            sizeof what);
        if (err) {
            start_error("[posad] seal_key_file %s: %s", pd->cfg.seal_key_file, what);
            return err;
        }
        seal_sealer(pd->seal_key, &pd->sealer);
    }
    err = db_open(path, &db);
    if (!err)
        err = db_seal_begin(db, pd->seal_key ? &pd->sealer : NULL);
    if (!err && created) { /* said apart: a volume not mounted yet also looks like this */
        log_event(LOGL_WARN, "database_created", "path", path, "action",
                  "a new, empty journal: if posad ran here before, check data_dir", NULL);
        if (lock_database_file(path) != 0) { /* now that it is there (lock_database) */
            db_close(db);
            return -EBUSY; /* it said why */
        }
    }
    /* Before anything is served: rows a crash left `sent` become `unknown`. */
    if (!err)
        err = journal_restart(db, upstream_now_ms(), &moved);
    if (!err)
        err = journal_last_msgid(db, last_msgid);
    if (err) {
        /* SQLite's words, when SQLite failed (a sealed row is posad's own finding). */
        const char *detail = db && err != POSA_ESEALED ? db_errmsg(db) : "";
        /* A full disk in the words of a start (-ENOSPC's own say "try again"); SQLite may
         * say it as an I/O error. */
        bool full = err == -ENOSPC || disk_nearly_full(pd->cfg.data_dir);

        start_error("journal %s: %s%s%s%s", path,
                    full ? "its disk is full: free space on it, then start posad again"
                         : posa_strerror(err),
                    detail[0] ? " (" : "", detail, detail[0] ? ")" : "");
        db_close(db);
        /* A first start that failed (a full disk) leaves no empty file behind for the next
         * start to refuse as a restore cut short. */
        if (created && stat(path, &st) == 0 && st.st_size == 0)
            unlink(path);
        unlink(marker);
        return err;
    }
    unlink(marker); /* made whole: an empty file from now on is no longer posad's doing */
    if (moved) {
        char n[16];
        snprintf(n, sizeof n, "%d", moved);
        log_event(LOGL_WARN, "restart_unknown", "rows", n, NULL);
    }
    err = db_worker_start(&pd->db, pd->loop, db);
    pd->db.on_failed = on_db_failed; /* the loop reads it; it has not run yet */
    pd->db.on_damaged = on_db_damaged;
    return err;
}

/* HIS connections per transport the open-file limit can hold: the soft limit raised to the
 * hard one, and half of it less a reserve (the database, the platform's connections, the
 * card reader) for each transport, at most 4,096. At the common 1,024, connections without
 * a token took every descriptor and the Unix socket, the platform's connections with it. */
static size_t connections_allowed(void)
{
    struct rlimit rl;
    size_t n = 4096;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        if (rl.rlim_cur < rl.rlim_max) {
            rl.rlim_cur = rl.rlim_max;
            if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
                getrlimit(RLIMIT_NOFILE, &rl);
        }
        if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < 2 * 4096 + 256)
            n = rl.rlim_cur > 256 + 2 * 16 ? (size_t)(rl.rlim_cur - 256) / 2 : 16;
    }
    return n;
}

/* Why the socket could not be made, in words: libuv reports a missing directory as EACCES. */
static const char *socket_error(const char *path, int err)
{
    char dir[CONFIG_PATH_MAX], *slash;
    struct stat st;

    if (err == UV_EADDRINUSE)
        return "another process is listening on it";
    if (err == UV_EEXIST)
        return "a file that is not a socket is in the way";
    snprintf(dir, sizeof dir, "%s", path);
    slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    if (err == UV_EACCES && slash && dir[0] && stat(dir, &st) != 0)
        return "its directory does not exist";
    return uv_strerror(err);
}

static int start_server(struct posad *pd)
{
    struct http_server_config scfg = {.max_body_bytes = BOUND_BODY,
                                      .max_connections = connections_allowed(),
                                      .idle_timeout_ms = 60000,
                                      .admit_timeout_ms = 10000,
                                      .max_unadmitted_per_peer = 32,
                                      .error_body = his_error_body,
                                      .admit = his_admit};
    char host[CONFIG_HOST_MAX];
    int err = http_server_new(pd->loop, &scfg, on_request, pd, &pd->server);

    if (err)
        start_error("HTTP server: %s", uv_strerror(err));
    if (!err && pd->tls) {
        http_server_use_tls(pd->server, pd->tls);
        pd->tls = NULL;
    }
    if (!err && pd->cfg.listen[0]) {
        bool loopback;
        int port;

        if (config_listen_split(pd->cfg.listen, host, &port, &loopback) < 0)
            return POSA_EFIELD; /* config_check said so already */
        err = http_server_listen_tcp(pd->server, host, port);
        if (err) {
            char at[CONFIG_PATH_MAX + 16];

            start_error("%s: [posad] listen: %s: %s%s",
                        config_where(&pd->cfg, pd->config_path, "posad", "listen", at, sizeof at),
                        pd->cfg.listen, uv_strerror(err),
                        err == UV_EADDRINUSE ? ": another program (another posad?) has the port: "
                                               "stop it, or listen on another"
                                             : "");
        }
        if (!err) {
            char p[16];
            snprintf(p, sizeof p, "%d", http_server_tcp_port(pd->server));
            log_event(LOGL_INFO, "listening", "host", host, "port", p, "tls",
                      pd->cfg.tls_cert[0] ? "yes" : "no", NULL);
        }
    }
    if (!err && pd->cfg.socket[0]) {
        char why[CONFIG_PATH_MAX + 160];

        if (config_socket_dir_unsafe(pd->cfg.socket, true, why, sizeof why)) {
            start_error("socket %s: %s", pd->cfg.socket, why);
            return POSA_EFIELD;
        }
        err = http_server_listen_unix(pd->server, pd->cfg.socket, (int)pd->cfg.socket_mode);
        if (err)
            start_error("socket %s: %s", pd->cfg.socket, socket_error(pd->cfg.socket, err));
    }
    return err;
}

/* What a message's outcome changes beside its journal row, in its transaction. */
static int applied_also(struct db *db, struct upmsg *m)
{
    int err = desk_applied(db, m);

    return err ? err : passthrough_applied(db, m);
}

static int start_upstream(struct posad *pd, const char *last_msgid)
{
    struct gateway_config gcfg = {.kind = pd->cfg.gateway,
                                  .tif_paasid = pd->cfg.tif_paasid,
                                  .tif_token = pd->cfg.tif_token,
                                  .csb_access_key = pd->cfg.csb_access_key,
                                  .csb_secret_key = pd->cfg.csb_secret_key,
                                  .csb_version = pd->cfg.csb_version,
                                  .sm_client_id = pd->cfg.sm_client_id,
                                  .sm_key_file = pd->cfg.sm_key_file};
    struct platform_client_config ccfg = {.url = pd->cfg.url,
                                          .ca_file = pd->cfg.ca_file,
                                          .cert_file = pd->cfg.cert_file,
                                          .key_file = pd->cfg.key_file,
                                          .connect_timeout_ms = pd->cfg.connect_timeout_ms,
                                          .timeout_ms = pd->cfg.timeout_ms,
                                          .max_connections = pd->cfg.max_connections,
                                          .gateway = &pd->gateway};
    int err = gateway_init(&pd->gateway, &gcfg);

    if (!err)
        err = platform_client_new(pd->loop, &ccfg, &pd->client);
    if (!err)
        err = upstream_init(&pd->up, pd->loop, &pd->cfg, &pd->db, pd->client, last_msgid);
    if (err)
        return err;
    pd->up.on_queued = on_up_queued;
    pd->up.on_unknown = on_up_unknown;
    pd->up.on_health = on_up_health;
    pd->up.applied_also = applied_also;
    pd->up.answer_readable = desk_answer_readable;
    return 0;
}

static void block_signals(bool block)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(block ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL);
}

static void start_signals(struct posad *pd)
{
    uv_signal_t *sigs[] = {&pd->sigterm, &pd->sigint, &pd->sighup};
    int nums[] = {SIGTERM, SIGINT, SIGHUP};

    signal(SIGPIPE, SIG_IGN);
    for (int i = 0; i < 3; i++) {
        uv_signal_init(pd->loop, sigs[i]);
        sigs[i]->data = pd;
        uv_signal_start(sigs[i], on_signal, nums[i]);
    }
    block_signals(false);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"check-config", optional_argument, NULL, 'k'},
                                         {"upstream", required_argument, NULL, 'u'},
                                         {"data-dir", required_argument, NULL, 'd'},
                                         {"listen", required_argument, NULL, 'l'},
                                         {"socket", required_argument, NULL, 's'},
                                         {"help", no_argument, NULL, 'h'},
                                         {"version", no_argument, NULL, 'V'},
                                         {NULL, 0, NULL, 0}};
    static struct posad pd;
    char *overrides[4] = {NULL, NULL, NULL, NULL};
    const char *config = NULL;
    bool check = false;
    char last_msgid[MSGID_LEN + 1] = "", msg[512];
    int c, rc = 0;

    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'k':
            check = true;
            if (optarg)
                config = optarg;
            else if (optind < argc && argv[optind][0] != '-')
                config = argv[optind++];
            break;
        case 'u': overrides[0] = optarg; break;
        case 'd': overrides[1] = optarg; break;
        case 'l': overrides[2] = optarg; break;
        case 's': overrides[3] = optarg; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("posad %s\n", POSA_VERSION); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!config || optind != argc) {
        usage(stderr);
        return 2;
    }
    /* Until the loop's handlers are in (start_signals), a SIGHUP (logrotate's) would end
     * posad by its default action and a SIGTERM would stop it mid-migration: held, and
     * delivered to the handlers once they are in. The threads started meanwhile keep them
     * blocked, so the loop's thread is the one that takes them. */
    if (!check)
        block_signals(true);
    pd.config_path = config;
    memcpy(pd.overrides, overrides, sizeof pd.overrides);
    if (load_config(&pd.cfg, config, overrides, msg, sizeof msg) != 0) {
        fprintf(stderr, "posad: %s\n", msg);
        rc = 2;
    }
    /* The log first: why posad cannot start goes there too (start_error). */
    if (!rc && !check && (rc = log_open(pd.cfg.log_file, pd.cfg.log_level, pd.cfg.log_format))) {
        char at[CONFIG_PATH_MAX + 16];

        fprintf(stderr, "posad: %s: [posad] log_file: cannot open %s: %s%s\n",
                config_where(&pd.cfg, config, "posad", "log_file", at, sizeof at), pd.cfg.log_file,
                log_open_why(rc),
                rc == -ENOENT ? " (make its directory, as posad's user may write)" : "");
        return 1;
    }
    /* After the log: a start's reason goes there too. */
    if (!rc && config_check_places(&pd.cfg, config, msg, sizeof msg) != 0) {
        if (check)
            fprintf(stderr, "posad: %s\n", msg);
        else
            start_error("%s", msg);
        rc = 2;
    }
    if (!rc) {
        char at[CONFIG_PATH_MAX + 16];
        const char *where = NULL;

        desk_init(&pd.desk, &pd);
        if (desk_configure(&pd.desk, &pd.cfg, msg, sizeof msg) != 0)
            where = config;
        else if (desk_policy_load(&pd.desk, pd.cfg.policy_file, msg, sizeof msg) != 0)
            where = config_where(&pd.cfg, config, "policy", "file", at, sizeof at);
        else if (load_tls(&pd, msg, sizeof msg) != 0)
            where = config_where(&pd.cfg, config, "his", "tls_cert", at, sizeof at);
        if (where && check)
            fprintf(stderr, "posad: %s: %s\n", where, msg);
        else if (where)
            start_error("%s: %s", where, msg);
        rc = where ? 2 : 0;
        /* Loaded, but a date is wrong: said, not refused (the Unix socket's HIS still works,
         * and a renewed certificate goes in with a SIGHUP). */
        if (!rc && http_tls_dates_warning(pd.tls, msg, sizeof msg)) {
            where = config_where(&pd.cfg, config, "his", "tls_cert", at, sizeof at);
            if (check)
                printf("posad: %s: warning: [his] tls_cert: %s\n", where, msg);
            else
                log_event(LOGL_WARN, "tls_certificate_dates", "cert", pd.cfg.tls_cert, "warning",
                          msg, NULL);
        }
    }
    if (rc || check) {
        SSL_CTX_free(pd.tls);
        if (!rc)
            printf("posad: %s: ok\n", config);
        return rc;
    }
    umask(077);
    /* Built with glibc's malloc (POSA_ALLOCATOR=libc): it gives a thread's freed heap back
     * to the kernel (madvise) whenever its top grows past the trim threshold, and takes it
     * again by page faults on the next message: 7% of posad's CPU under load. Keep up to
     * 16 MiB of freed heap instead. (jemalloc's: malloc_conf above.) */
    mallopt(M_TRIM_THRESHOLD, 16 << 20);
    pd.loop = uv_default_loop();
    /* Listening before the database is opened: a port in use or a socket that cannot be made
     * stops posad before it migrates or recovers anything. Nothing is answered before the
     * loop runs. */
    if (claim_data_dir(&pd) != 0 || start_server(&pd) != 0)
        return 1; /* each said why */
    if (open_journal(&pd, last_msgid) != 0)
        return stop_listening(&pd);
    rc = start_upstream(&pd, last_msgid);
    if (rc) {
        start_error("upstream: %s", posa_strerror(rc));
        return stop_listening(&pd);
    }
    outbox_init(&pd.outbox, &pd);
    resolver_init(&pd.resolver, &pd);
    desk_catalog_start(&pd.desk);
    desk_retention_start(&pd.desk);
    desk_reconcile_start(&pd.desk);
    desk_events_start(&pd.desk);
    rc = desk_cards_start(&pd.desk);
    if (rc) {
        start_error("card readers: %s%s%s", posa_strerror(rc),
                    rc == DRV_EVENDOR ? ": [desks] card_library " : "",
                    rc == DRV_EVENDOR ? pd.cfg.card_library : "");
        return stop_listening(&pd);
    }
    start_signals(&pd);
    upstream_start(&pd.up);
    outbox_kick(&pd.outbox);
    log_event(LOGL_INFO, "started", "fixmedins_code", pd.cfg.fixmedins_code, "upstream", pd.cfg.url,
              NULL);
    uv_run(pd.loop, UV_RUN_DEFAULT);
    gateway_done(&pd.gateway);
    desk_done(&pd.desk);
    log_close();
    seal_key_free(pd.seal_key);
    return pd.exit_code;
}
