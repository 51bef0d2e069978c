/* The treating region's catalog kept in SQLite (schema 0004): stored whole after each
 * download, loaded at start into plain core items. Synchronous, database thread. */
#ifndef POSA_CACHE_CATALOG_H
#define POSA_CACHE_CATALOG_H

#include <stddef.h>
#include <stdint.h>

#include "core/split.h"

struct db;

/* A loaded catalog: items whose strings live in one block. Free with catalog_copy_free. */
struct catalog_copy {
    struct catalog_item *items;
    size_t n;
    char *strings;
    int64_t loaded_at; /* Unix ms of the download it came from; 0 when none */
    size_t damaged;    /* stored rows that could not be what catalog_store wrote: left out */
};

void catalog_copy_free(struct catalog_copy *c); /* NULL and empty are no-ops */

/* Replaces the stored catalog with items (in the caller's transaction). */
int catalog_store(struct db *db, const struct catalog_item *items, size_t n, int64_t now);

/* Loads the stored catalog; an empty one (never downloaded) has n = 0. */
int catalog_load(struct db *db, struct catalog_copy *ret);

#endif
