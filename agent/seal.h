/* At-rest sealing of the database's personal data (cache/db.h, db_seal_begin) under a key of
 * posad's own: [posad] seal_key_file, 64 hex digits (32 bytes) in a file only its owner may
 * read. Two ciphers, told apart by a sealed value's first byte, so a database may hold both
 * and seal_cipher may change between starts (the key may not):
 *   aes-256-gcm  the default: 4.61 M -> 4.80 M instructions per outpatient settlement
 *                (callgrind, bench/instructions.py), where SM4 takes it to 8.83 M;
 *   sm4          SM4-CTR with an HMAC-SM3 tag (encrypt-then-MAC), for an institution whose
 *                cryptography assessment asks for the SM algorithms (OpenSSL 3.0 has no
 *                SM4-GCM).
 * Each cipher's keys are derived from the file's (HMAC over a label), never used as they are.
 * A sealed value is 'A' | IV (12) | ciphertext | GCM tag (16), or 'S' | IV (16) | ciphertext |
 * HMAC-SM3 (32) over what precedes it. An IV is 8 random bytes drawn when the key is loaded
 * (again after 2^32 values), a 4-byte count, and for SM4-CTR 4 zero bytes (its block
 * counter): no IV twice under the key, across values and starts. A loaded key keeps its
 * cipher contexts and count, so it serves one thread at a time (posad's database thread). */
#ifndef POSA_AGENT_SEAL_H
#define POSA_AGENT_SEAL_H

#include <stdbool.h>
#include <stddef.h>

#include "cache/db.h"

#define SEAL_CIPHERS "aes-256-gcm|sm4"

struct seal_key;

/* Reads and checks the key file, derives the keys and fetches the ciphers. On error *why
 * says what is wrong with the file in words (without its path), and the code is
 * POSA_EFIELD (the file), -errno (it cannot be read) or POSA_ECRYPTO (OpenSSL). */
int seal_key_load(const char *path, const char *cipher, struct seal_key **ret, char *why,
                  size_t cap);
void seal_key_free(struct seal_key *k); /* wipes the keys; NULL is a no-op */

/* The sealer for db_seal_begin: it seals with k's cipher and opens either. k must outlive
 * the connection it is given to. */
void seal_sealer(struct seal_key *k, struct db_sealer *out);

/* The digest of a request kept with its Idempotency-Key (hex: an unkeyed SHA-256 of a body
 * naming an ID number gives the number away to anyone trying them all) as posad keeps it
 * beside sealed rows: "k" and the hex of HMAC-SHA256 of hex under a key of its own, as long
 * as hex. out may be hex. Any thread (it keeps no state). */
int seal_digest(const struct seal_key *k, const char *hex, char *out);

/* Whether two loaded keys are the same key (whatever their ciphers). */
bool seal_key_same(const struct seal_key *a, const struct seal_key *b);

#endif
