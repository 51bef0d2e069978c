/* A fresh temp directory and a database path in it, for component tests that open real
 * files: made by tmpdb_make, removed with the database's -wal and -shm by tmpdb_remove.
 * Include after <cmocka.h>. */
#ifndef POSA_TESTS_TMPDB_H
#define POSA_TESTS_TMPDB_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct tmpdb {
    char dir[64];
    char path[128];
};

static inline void tmpdb_make(struct tmpdb *t, const char *tag)
{
    snprintf(t->dir, sizeof t->dir, "/tmp/posa-%s-XXXXXX", tag);
    assert_non_null(mkdtemp(t->dir));
    snprintf(t->path, sizeof t->path, "%s/posa.db", t->dir);
}

static inline void tmpdb_remove(const struct tmpdb *t)
{
    static const char *const suffix[] = {"", "-wal", "-shm"};
    char p[160];

    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", t->path, suffix[i]);
        unlink(p);
    }
    rmdir(t->dir);
}

#endif
