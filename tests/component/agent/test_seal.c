/* At-rest sealing (agent/seal.c over cache/'s sealable columns): the key file's rules, the
 * two ciphers' formats checked by decrypting with OpenSSL directly from what seal.h
 * documents (so a sealed database can be read without posad), tampering and other keys,
 * and a real database file: sealed columns hold no personal data, plain rows from before stay
 * readable, and a start without the key or with another one is refused. */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <sqlite3.h>

#include "agent/seal.h"
#include "cache/db_internal.h" /* db_sqlite: the file as SQLite has it */
#include "cache/journal.h"
#include "cache/records.h"
#include "core/err.h"
#include "tests/component/tmpdb.h"

#define KEY_A  "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define KEY_B  "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"
#define CERTNO "320211195001010006"
#define NAME   "张三"
#define PLAIN  "{\"certno\":\"" CERTNO "\",\"psn_name\":\"" NAME "\"}"
#define DIGEST "0123456789abcdef0123456789abcdef" /* an idempotent request's, unkeyed */

struct fx {
    struct tmpdb tmp;
    char key_a[160], key_b[160];
};

static void write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

static int fx_setup(void **state)
{
    struct fx *fx = calloc(1, sizeof *fx);

    assert_non_null(fx);
    tmpdb_make(&fx->tmp, "seal");
    snprintf(fx->key_a, sizeof fx->key_a, "%s/a.key", fx->tmp.dir);
    snprintf(fx->key_b, sizeof fx->key_b, "%s/b.key", fx->tmp.dir);
    write_file(fx->key_a, KEY_A "\n", 0400);
    write_file(fx->key_b, KEY_B, 0600);
    *state = fx;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *fx = *state;

    unlink(fx->key_a);
    unlink(fx->key_b);
    tmpdb_remove(&fx->tmp);
    free(fx);
    return 0;
}

static struct seal_key *load(const char *path, const char *cipher)
{
    struct seal_key *k = NULL;
    char why[256] = "";

    if (seal_key_load(path, cipher, &k, why, sizeof why) != 0)
        fail_msg("%s: %s", path, why);
    return k;
}

/* seal_key_load's code for a key file holding text with mode; its words in why. */
static int load_text(struct fx *fx, const char *text, mode_t mode, char *why, size_t cap)
{
    char path[160];
    struct seal_key *k = NULL;
    int err;

    snprintf(path, sizeof path, "%s/try.key", fx->tmp.dir);
    write_file(path, text, mode);
    err = seal_key_load(path, "aes-256-gcm", &k, why, cap);
    seal_key_free(k);
    unlink(path);
    assert_true(err != 0 || k != NULL);
    return err;
}

static void test_key_file_rules(void **state)
{
    struct fx *fx = *state;
    struct seal_key *k = NULL;
    char why[256];

    assert_int_equal(load_text(fx, KEY_A, 0400, why, sizeof why), 0);
    assert_int_equal(load_text(fx, KEY_A "\r\n", 0600, why, sizeof why), 0);
    assert_int_equal(load_text(fx, KEY_A, 0640, why, sizeof why), POSA_EFIELD);
    assert_non_null(strstr(why, "mode 0640"));
    assert_non_null(strstr(why, "chmod 0400"));
    assert_int_equal(load_text(fx, KEY_A, 0604, why, sizeof why), POSA_EFIELD);
    assert_int_equal(load_text(fx, "0011", 0400, why, sizeof why), POSA_EFIELD);
    assert_non_null(strstr(why, "64 hex digits"));
    assert_int_equal(load_text(fx, KEY_A "00", 0400, why, sizeof why), POSA_EFIELD);
    assert_int_equal(load_text(fx, KEY_A "\n#x", 0400, why, sizeof why), POSA_EFIELD);
    assert_int_equal(load_text(fx, "zz" KEY_A, 0400, why, sizeof why), POSA_EFIELD);
    assert_int_equal(load_text(fx, "", 0400, why, sizeof why), POSA_EFIELD);
    assert_int_equal(seal_key_load("/nonexistent/posa.key", "sm4", &k, why, sizeof why), -ENOENT);
    assert_null(k);
    assert_int_equal(seal_key_load(fx->tmp.dir, "sm4", &k, why, sizeof why), POSA_EFIELD);
    assert_string_equal(why, "not a file");
    /* Another account's key could be read or replaced by it (root may own it). */
    if (geteuid() == 0) {
        assert_int_equal(chown(fx->key_b, 65534, 65534), 0);
        assert_int_equal(seal_key_load(fx->key_b, "sm4", &k, why, sizeof why), POSA_EFIELD);
        assert_non_null(strstr(why, "owned by uid 65534"));
        assert_int_equal(chown(fx->key_b, 0, 0), 0);
        assert_int_equal(seal_key_load(fx->key_b, "sm4", &k, why, sizeof why), 0);
        seal_key_free(k);
    }
}

/* HMAC-<digest>(KEY_A's bytes, label): the derivation seal.h documents. */
static void derive_a(const char *digest, const char *label, unsigned char *out, size_t len)
{
    unsigned char master[32], mac[64];
    size_t n = 0;

    for (int i = 0; i < 32; i++) {
        unsigned v;
        assert_int_equal(sscanf(&KEY_A[2 * i], "%2x", &v), 1);
        master[i] = (unsigned char)v;
    }
    assert_non_null(EVP_Q_mac(NULL, "HMAC", NULL, digest, NULL, master, sizeof master,
                              (const unsigned char *)label, strlen(label), mac, sizeof mac, &n));
    assert_true(n >= len);
    memcpy(out, mac, len);
}

/* Seals PLAIN with k: the sealed bytes (malloc'd) and their length. */
static unsigned char *seal_plain(struct seal_key *k, size_t *len)
{
    struct db_sealer s;
    unsigned char *out = malloc(strlen(PLAIN) + DB_SEAL_OVERHEAD_MAX);

    seal_sealer(k, &s);
    assert_non_null(out);
    assert_int_equal(s.seal(s.ctx, PLAIN, strlen(PLAIN), out, len), 0);
    return out;
}

static void test_aes_format(void **state)
{
    struct fx *fx = *state;
    struct seal_key *k = load(fx->key_a, "aes-256-gcm");
    unsigned char key[32], plain[128], *v;
    size_t len, n = strlen(PLAIN);
    int got = 0, fin = 0;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();

    v = seal_plain(k, &len);
    assert_int_equal(v[0], 'A');
    assert_int_equal(len, 1 + 12 + n + 16);
    assert_null(memmem(v, len, CERTNO, strlen(CERTNO)));
    derive_a("SHA256", "posa seal aes-256-gcm", key, sizeof key);
    assert_true(EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, v + 1));
    assert_true(EVP_DecryptUpdate(ctx, NULL, &got, v, 1)); /* the cipher byte, authenticated */
    assert_true(EVP_DecryptUpdate(ctx, plain, &got, v + 13, (int)n));
    assert_true(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, v + 13 + n));
    assert_true(EVP_DecryptFinal_ex(ctx, plain + got, &fin));
    assert_memory_equal(plain, PLAIN, n);
    EVP_CIPHER_CTX_free(ctx);
    free(v);
    seal_key_free(k);
}

static void test_sm4_format(void **state)
{
    struct fx *fx = *state;
    struct seal_key *k = load(fx->key_a, "sm4");
    unsigned char key[16], mac_key[32], tag[64], plain[128], *v;
    size_t len, n = strlen(PLAIN), tag_len = 0;
    int got = 0, fin = 0;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();

    v = seal_plain(k, &len);
    assert_int_equal(v[0], 'S');
    assert_int_equal(len, 1 + 16 + n + 32);
    derive_a("SM3", "posa seal sm4", key, sizeof key);
    derive_a("SM3", "posa seal hmac-sm3", mac_key, sizeof mac_key);
    assert_non_null(EVP_Q_mac(NULL, "HMAC", NULL, "SM3", NULL, mac_key, sizeof mac_key, v,
                              1 + 16 + n, tag, sizeof tag, &tag_len));
    assert_int_equal(tag_len, 32);
    assert_memory_equal(tag, v + 17 + n, 32);
    assert_true(EVP_DecryptInit_ex(ctx, EVP_sm4_ctr(), NULL, key, v + 1));
    assert_true(EVP_DecryptUpdate(ctx, plain, &got, v + 17, (int)n));
    assert_true(EVP_DecryptFinal_ex(ctx, plain + got, &fin));
    assert_memory_equal(plain, PLAIN, n);
    EVP_CIPHER_CTX_free(ctx);
    free(v);
    seal_key_free(k);
}

/* open() of v (len bytes) under k: its code, the text in out. */
static int open_with(struct seal_key *k, const unsigned char *v, size_t len, char *out)
{
    struct db_sealer s;
    size_t n = 0;
    int err;

    seal_sealer(k, &s);
    err = s.open(s.ctx, v, len, (unsigned char *)out, &n);
    out[err ? 0 : n] = '\0';
    return err;
}

static void test_tampered_and_other_keys(void **state)
{
    struct fx *fx = *state;
    const char *ciphers[] = {"aes-256-gcm", "sm4"};
    char out[256];

    for (int c = 0; c < 2; c++) {
        struct seal_key *k = load(fx->key_a, ciphers[c]), *other = load(fx->key_b, ciphers[c]);
        struct seal_key *switched = load(fx->key_a, ciphers[1 - c]);
        struct db_sealer s;
        unsigned char empty[DB_SEAL_OVERHEAD_MAX];
        size_t len, elen = 0;
        unsigned char *v = seal_plain(k, &len);

        assert_int_equal(open_with(k, v, len, out), 0);
        assert_string_equal(out, PLAIN);
        /* The key file stays; seal_cipher may change: old values open under the other. */
        assert_int_equal(open_with(switched, v, len, out), 0);
        assert_string_equal(out, PLAIN);
        assert_int_equal(open_with(other, v, len, out), POSA_ESEALED);
        for (size_t i = 0; i < len; i++) { /* the cipher byte, IV, text and tag */
            v[i] ^= 0x01;
            assert_int_equal(open_with(k, v, len, out), POSA_ESEALED);
            v[i] ^= 0x01;
        }
        assert_int_equal(open_with(k, v, len - 1, out), POSA_ESEALED);
        assert_int_equal(open_with(k, v, 10, out), POSA_ESEALED);
        /* Two seals of one value differ (new IVs). */
        size_t len2;
        unsigned char *v2 = seal_plain(k, &len2);
        assert_true(len2 == len && memcmp(v, v2, len) != 0);
        /* An empty value seals and opens. */
        seal_sealer(k, &s);
        assert_int_equal(s.seal(s.ctx, "", 0, empty, &elen), 0);
        assert_int_equal(open_with(k, empty, elen, out), 0);
        assert_string_equal(out, "");
        free(v);
        free(v2);
        seal_key_free(k);
        seal_key_free(other);
        seal_key_free(switched);
    }
}

/* No IV twice: many values under one load, and another load (another start) of the key. */
static void test_ivs_never_repeat(void **state)
{
    struct fx *fx = *state;
    const char *ciphers[] = {"aes-256-gcm", "sm4"};
    enum { VALUES = 2000 };
    static unsigned char ivs[2 * VALUES][16];

    for (int c = 0; c < 2; c++) {
        size_t iv_len = c == 0 ? 12 : 16;
        int n = 0;

        for (int round = 0; round < 2; round++) {
            struct seal_key *k = load(fx->key_a, ciphers[c]);
            for (int i = 0; i < VALUES; i++) {
                size_t len;
                unsigned char *v = seal_plain(k, &len);
                memcpy(ivs[n++], v + 1, iv_len);
                free(v);
            }
            seal_key_free(k);
        }
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++)
                assert_false(memcmp(ivs[i], ivs[j], iv_len) == 0);
    }
}

static void test_digest(void **state)
{
    struct fx *fx = *state;
    struct seal_key *a = load(fx->key_a, "aes-256-gcm"), *a_sm4 = load(fx->key_a, "sm4");
    struct seal_key *b = load(fx->key_b, "aes-256-gcm");
    char one[sizeof DIGEST], two[sizeof DIGEST], other[sizeof DIGEST], in_place[] = DIGEST;
    unsigned char mac[32], key[32];
    size_t n = 0;

    assert_int_equal(seal_digest(a, DIGEST, one), 0);
    assert_int_equal(seal_digest(a_sm4, DIGEST, two), 0); /* the key's, whatever the cipher */
    assert_int_equal(seal_digest(b, DIGEST, other), 0);
    assert_int_equal(seal_digest(a, in_place, in_place), 0);
    assert_string_equal(one, two);
    assert_string_equal(one, in_place);
    assert_string_not_equal(one, other);
    assert_int_equal(strlen(one), strlen(DIGEST));
    /* "k" and HMAC-SHA256 under HMAC-SHA256(key, "posa seal digest"), as seal.h says. */
    derive_a("SHA256", "posa seal digest", key, sizeof key);
    assert_non_null(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, sizeof key,
                              (const unsigned char *)DIGEST, strlen(DIGEST), mac, sizeof mac, &n));
    char want[sizeof DIGEST] = "k";
    for (size_t i = 1; i < strlen(DIGEST); i++)
        want[i] = "0123456789abcdef"[(mac[(i - 1) / 2] >> ((i - 1) % 2 ? 0 : 4)) & 15];
    assert_string_equal(one, want);
    seal_key_free(a);
    seal_key_free(a_sm4);
    seal_key_free(b);
}

static bool file_has(const char *path, const char *text)
{
    FILE *f = fopen(path, "rb");
    static char buf[1 << 20];
    size_t n;

    if (!f)
        return false;
    n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return memmem(buf, n, text, strlen(text)) != NULL;
}

static void put_journal(struct db *db, const char *msgid, const char *body)
{
    struct journal_new in = {.msgid = msgid,
                             .infno = "2207",
                             .visit_key = "V",
                             .request = body,
                             .request_len = strlen(body),
                             .send_now = true};
    struct journal_outcome out = {.response = body, .response_len = strlen(body)};

    assert_int_equal(journal_insert(db, &in, 1), 0);
    assert_int_equal(journal_apply(db, msgid, MSG_EV_ANSWER_OK, &out, 2, NULL), 0);
}

static int32_t report_date(const char *id)
{
    return strcmp(id, "OLD") == 0 ? 20261101 : 20261102;
}

/* hash: the request digest kept with the answer (as posad's caller makes it: keyed when
 * sealing). */
static void put_records(struct db *db, const char *id, const char *certno, const char *body,
                        const char *hash)
{
    struct visit_record v = {.kind = "outpatient", .state = "open", .med_type = "11"};
    struct settlement_record s = {.state = "settled", .settle_date = 20261125};
    char *copy = strdup(body);

    snprintf(v.visit_id, sizeof v.visit_id, "%s", id);
    snprintf(v.his_visit_id, sizeof v.his_visit_id, "%s", id);
    snprintf(v.who.psn_no, sizeof v.who.psn_no, "P-%s", certno);
    snprintf(v.who.cert_no, sizeof v.who.cert_no, "%s", certno);
    snprintf(s.settlement_id, sizeof s.settlement_id, "%s", id);
    snprintf(s.visit_id, sizeof s.visit_id, "%s", id);
    v.body = s.body = copy;
    assert_int_equal(records_visit_put(db, &v, 1), 0);
    assert_int_equal(records_settlement_put(db, &s, 1), 0);
    assert_int_equal(records_identity_put(db, id, "D01", body, 1, 1000), 0);
    assert_int_equal(records_answer_put(db, id, hash, 200, body, 1), 0);
    assert_int_equal(records_report_put(db, report_date(id), body, 1), 0);
    free(copy);
}

/* Every sealable column of the records and journal row under id reads back as written. */
static void assert_reads(struct db *db, const char *id, const char *msgid, const char *certno,
                         const char *body)
{
    struct visit_record *v = NULL;
    struct settlement_record *s = NULL;
    struct journal_row *row = NULL;
    char desk[RECORD_ID_MAX + 1], hash[RECORD_ID_MAX + 1], *text = NULL, psn[64];
    int status;

    assert_int_equal(records_visit_get(db, id, &v), 0);
    snprintf(psn, sizeof psn, "P-%s", certno);
    assert_string_equal(v->who.cert_no, certno);
    assert_string_equal(v->who.psn_no, psn);
    assert_string_equal(v->who.card_sn, "");
    assert_string_equal(v->body, body);
    records_visit_free(v);
    assert_int_equal(records_settlement_get(db, id, &s), 0);
    assert_string_equal(s->body, body);
    records_settlement_free(s);
    assert_int_equal(records_identity_get(db, id, 2, &text, desk), 0);
    assert_string_equal(text, body);
    free(text);
    assert_int_equal(records_answer_get(db, id, hash, &status, &text), 0);
    assert_string_equal(text, body);
    free(text);
    assert_int_equal(records_report_get(db, report_date(id), &text), 0);
    assert_string_equal(text, body);
    free(text);
    assert_int_equal(journal_get(db, msgid, &row), 0);
    assert_int_equal(row->request_len, strlen(body));
    assert_string_equal(row->request, body);
    assert_string_equal(row->response, body);
    journal_row_free(row);
}

struct listed {
    int rows, damaged;
    char damaged_msgid[MSGID_LEN + 1];
};

static int list_row(const struct journal_row *row, void *data)
{
    struct listed *l = data;

    l->rows++;
    if (row->damaged) {
        l->damaged++;
        strcpy(l->damaged_msgid, row->msgid);
        assert_string_equal(row->request, "");
        assert_null(row->response);
    }
    return 0;
}

static int reopen(struct fx *fx, struct db **db, struct seal_key *k, struct db_sealer *s)
{
    db_close(*db);
    *db = NULL;
    assert_int_equal(db_open(fx->tmp.path, db), 0);
    if (k)
        seal_sealer(k, s);
    return db_seal_begin(*db, k ? s : NULL);
}

static void test_database(void **state)
{
    struct fx *fx = *state;
    struct seal_key *a = load(fx->key_a, "aes-256-gcm"), *b = load(fx->key_b, "aes-256-gcm");
    struct seal_key *a_sm4 = load(fx->key_a, "sm4");
    struct db_sealer s;
    struct db *db = NULL;
    const char *old = "{\"certno\":\"110101199001010011\"}";
    sqlite3_stmt *st;

    /* Rows of a posad from before sealing was turned on. */
    assert_int_equal(db_open(fx->tmp.path, &db), 0);
    assert_int_equal(db_seal_begin(db, NULL), 0);
    put_journal(db, "M1", old);
    put_records(db, "OLD", "110101199001010011", old, DIGEST);

    assert_int_equal(reopen(fx, &db, a, &s), 0);
    assert_reads(db, "OLD", "M1", "110101199001010011", old);
    put_journal(db, "M2", PLAIN);
    char new_hash[sizeof DIGEST];
    assert_int_equal(seal_digest(a, DIGEST, new_hash), 0);
    put_records(db, "NEW", CERTNO, PLAIN, new_hash);
    assert_reads(db, "NEW", "M2", CERTNO, PLAIN);

    /* In the file (checkpointed when closed): every new sealable value is sealed. */
    assert_int_equal(reopen(fx, &db, a, &s), 0);
    assert_int_equal(
        sqlite3_prepare_v2(db_sqlite(db),
                           "SELECT (SELECT count(*) FROM journal WHERE msgid = 'M2' AND "
                           "hex(substr(request, 1, 4)) = '0050534C' AND "
                           "hex(substr(response, 1, 4)) = '0050534C') + "
                           "(SELECT count(*) FROM visits WHERE visit_id = 'NEW' AND "
                           "hex(substr(body, 1, 4)) = '0050534C' AND "
                           "hex(substr(cert_no, 1, 4)) = '0050534C' AND "
                           "hex(substr(psn_no, 1, 4)) = '0050534C' AND "
                           "hex(substr(card_sn, 1, 4)) = '0050534C')",
                           -1, &st, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 2);
    sqlite3_finalize(st);
    db_close(db);
    db = NULL;
    assert_false(file_has(fx->tmp.path, CERTNO));
    assert_false(file_has(fx->tmp.path, NAME));
    assert_true(file_has(fx->tmp.path, "110101199001010011")); /* the test can see */

    /* No key, or another: refused before anything is read, nothing changed. */
    assert_int_equal(reopen(fx, &db, NULL, &s), POSA_ESEALED);
    assert_int_equal(reopen(fx, &db, b, &s), POSA_ESEALED);
    /* The same key with the other cipher: both kinds of value open, new ones are SM4. */
    assert_int_equal(reopen(fx, &db, a_sm4, &s), 0);
    assert_reads(db, "NEW", "M2", CERTNO, PLAIN);
    assert_reads(db, "OLD", "M1", "110101199001010011", old);
    put_journal(db, "M3", PLAIN);
    assert_int_equal(reopen(fx, &db, a, &s), 0);
    struct journal_row *row = NULL;
    assert_int_equal(journal_get(db, "M3", &row), 0);
    assert_string_equal(row->request, PLAIN);
    journal_row_free(row);
    /* The rows from before the key: sealed by the background pass, a few at a time, and
     * gone from the file (secure_delete). Done once: later calls and starts pass at once. */
    struct db_seal_cursor cur = {0};
    int sealed, total = 0, calls = 0;
    bool done = false;
    while (!done) {
        assert_int_equal(db_seal_plain_rows(db, &cur, 1, &sealed, &done), 0);
        total += sealed;
        assert_true(++calls < 20);
    }
    /* The old journal row, identity, visit, settlement, answer and report; the rest were
     * sealed. */
    assert_int_equal(total, 6);
    assert_reads(db, "OLD", "M1", "110101199001010011", old);
    /* The old answer's digest is keyed as a new request's is (so a retry still matches). */
    char hash[RECORD_ID_MAX + 1], keyed[sizeof DIGEST], *text = NULL;
    int status;
    assert_int_equal(records_answer_get(db, "OLD", hash, &status, &text), 0);
    free(text);
    assert_int_equal(seal_digest(a, DIGEST, keyed), 0);
    assert_string_equal(hash, keyed);
    assert_int_equal(db_seal_plain_rows(db, &cur, 1, &sealed, &done), 0);
    assert_true(done && sealed == 0);
    assert_int_equal(reopen(fx, &db, a, &s), 0);
    memset(&cur, 0, sizeof cur);
    done = false;
    assert_int_equal(db_seal_plain_rows(db, &cur, 100, &sealed, &done), 0);
    assert_true(done && sealed == 0);
    db_close(db);
    db = NULL;
    assert_false(file_has(fx->tmp.path, "110101199001010011"));
    assert_int_equal(reopen(fx, &db, a, &s), 0);
    assert_reads(db, "OLD", "M1", "110101199001010011", old);

    /* A damaged sealed value is damage, never text: journal_get fails; a list gives the row
     * marked damaged (request "", no response), so one row stops no other. */
    assert_int_equal(sqlite3_exec(db_sqlite(db),
                                  "UPDATE journal SET response = substr(response, 1, "
                                  "length(response) - 1) WHERE msgid = 'M2'",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    row = NULL;
    assert_int_equal(journal_get(db, "M2", &row), POSA_ECORRUPT);
    assert_null(row);
    struct listed listed = {0};
    assert_int_equal(journal_settlements_since(db, 0, list_row, &listed), 0);
    assert_int_equal(listed.rows, 3); /* M1, M2, M3: done 2207s */
    assert_int_equal(listed.damaged, 1);
    assert_string_equal(listed.damaged_msgid, "M2");
    db_close(db);
    seal_key_free(a);
    seal_key_free(b);
    seal_key_free(a_sm4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_key_file_rules, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_aes_format, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_sm4_format, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_tampered_and_other_keys, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_ivs_never_repeat, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_digest, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_database, fx_setup, fx_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
