/* Where each of a caller's strings sits in its array, found by the string: open addressing
 * on core's str_hash, for the ledger's fee lines by feedetl_sn and an upload's visits by
 * mdtrt_id, where a scan per lookup made large inputs quadratic. The caller keeps the
 * strings; the map keeps positions. Positions are only added, never removed: a caller that
 * retires an entry tells idmap_find through its match function. */
#ifndef POSA_SANDBOX_IDMAP_H
#define POSA_SANDBOX_IDMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct idmap {
    uint32_t *slots; /* position + 1; 0: empty */
    size_t nslots;   /* a power of two, at least twice the positions held */
    size_t n;        /* positions held */
};

/* The string at position i of the caller's array. */
typedef const char *(*idmap_key_fn)(size_t i, const void *data);

/* Room for one more position; when the map grows it takes positions 0..n-1 again through
 * key. 0, or -ENOMEM (the map is unchanged). Positions must stay below UINT32_MAX. */
int idmap_reserve(struct idmap *m, idmap_key_fn key, const void *data);
/* Adds position i, whose string is key (after idmap_reserve). */
void idmap_put(struct idmap *m, const char *key, size_t i);
/* The first position added under key for which match(i, key, data) holds; SIZE_MAX when
 * none (or the map holds nothing yet). */
size_t idmap_find(const struct idmap *m, const char *key,
                  bool (*match)(size_t i, const char *key, const void *data), const void *data);
void idmap_free(struct idmap *m);

#endif
