/* Positions by string, open addressing with linear probing (idmap.h). */
#include "sandbox/idmap.h"

#include <errno.h>
#include <stdlib.h>

#include "core/str.h"

static size_t slot_of(const struct idmap *m, const char *key)
{
    return str_hash(key) & (m->nslots - 1);
}

void idmap_put(struct idmap *m, const char *key, size_t i)
{
    size_t k = slot_of(m, key);

    while (m->slots[k])
        k = (k + 1) & (m->nslots - 1);
    m->slots[k] = (uint32_t)(i + 1);
    m->n++;
}

int idmap_reserve(struct idmap *m, idmap_key_fn key, const void *data)
{
    struct idmap grown = {.nslots = 16};
    size_t n = m->n;

    if (m->slots && 2 * (n + 1) <= m->nslots)
        return 0;
    while (grown.nslots < 4 * (n + 1))
        grown.nslots *= 2;
    if (n + 1 >= UINT32_MAX || !(grown.slots = calloc(grown.nslots, sizeof(*grown.slots))))
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        idmap_put(&grown, key(i, data), i);
    free(m->slots);
    *m = grown;
    return 0;
}

size_t idmap_find(const struct idmap *m, const char *key,
                  bool (*match)(size_t i, const char *key, const void *data), const void *data)
{
    if (!m->slots)
        return SIZE_MAX;
    for (size_t k = slot_of(m, key); m->slots[k]; k = (k + 1) & (m->nslots - 1))
        if (match(m->slots[k] - 1, key, data))
            return m->slots[k] - 1;
    return SIZE_MAX;
}

void idmap_free(struct idmap *m)
{
    free(m->slots);
    *m = (struct idmap){0};
}
