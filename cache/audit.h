/* The audit log (schema 0016): appended in the caller's transaction, read in pages. cache/
 * stores the hash the caller computed (agent/audit.c): it holds no cryptography. */
#ifndef POSA_CACHE_AUDIT_H
#define POSA_CACHE_AUDIT_H

#include <stdint.h>

struct db;

#define AUDIT_HASH_LEN 64 /* hex SHA-256 */
#define AUDIT_WHO_MAX  64

struct audit_row {
    int64_t seq; /* read back; ignored by audit_insert */
    int64_t at;  /* Unix ms */
    const char *who, *action, *target, *msgid;
    const char *hash;
};

/* The hash of the last row before seq (INT64_MAX: the last of all), or "" when none. */
int audit_hash_before(struct db *db, int64_t seq, char ret[AUDIT_HASH_LEN + 1]);
int audit_insert(struct db *db, const struct audit_row *row);
/* Rows with seq > after, in order, at most limit; cb's row is valid for the call only. A
 * non-zero return of cb stops and is returned. */
typedef int (*audit_row_cb)(const struct audit_row *row, void *data);
int audit_list(struct db *db, int64_t after, int limit, audit_row_cb cb, void *data);

#endif
