/* National message ids, monotonic across clock steps and restarts. */
#include "core/msgid.h"

#include <string.h>

#include "core/datetime.h"
#include "core/err.h"

static bool is_code_char(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool is_time_valid(int64_t t)
{
    int64_t hms = t % 1000000;

    return date_is_valid(datetime_date(t)) && hms / 10000 <= 23 && hms / 100 % 100 <= 59 &&
           hms % 100 <= 59;
}

/* Reads the 14-digit time and 4-digit sequence of a 30-char id. */
static bool msgid_split(const char *msgid, int64_t *ret_time, uint32_t *ret_seq)
{
    int64_t t = 0;
    uint32_t seq = 0;

    for (int i = MSGID_CODE_LEN; i < MSGID_LEN; i++) {
        if (msgid[i] < '0' || msgid[i] > '9')
            return false;
        if (i < MSGID_CODE_LEN + 14)
            t = t * 10 + (msgid[i] - '0');
        else
            seq = seq * 10 + (uint32_t)(msgid[i] - '0');
    }
    if (!is_time_valid(t))
        return false;
    *ret_time = t;
    *ret_seq = seq;
    return true;
}

bool msgid_is_valid(const char *msgid, size_t len, const char *expect_code)
{
    int64_t t;
    uint32_t seq;

    if (!msgid || len != MSGID_LEN)
        return false;
    for (int i = 0; i < MSGID_CODE_LEN; i++)
        if (!is_code_char(msgid[i]))
            return false;
    if (expect_code && strncmp(msgid, expect_code, MSGID_CODE_LEN) != 0)
        return false;
    return msgid_split(msgid, &t, &seq);
}

bool msgid_of_other_terminal(const struct msgid_gen *gen, const char *msgid)
{
    return gen->terminal != MSGID_NO_TERMINAL && msgid &&
           msgid_is_valid(msgid, strlen(msgid), gen->code) &&
           msgid[MSGID_CODE_LEN + 14] - '0' != gen->terminal;
}

int msgid_gen_init(struct msgid_gen *gen, const char *code, int terminal, const char *last_issued)
{
    struct msgid_gen g = {.terminal = terminal};

    if (!code || strlen(code) != MSGID_CODE_LEN ||
        (terminal != MSGID_NO_TERMINAL && (terminal < 0 || terminal > 9)))
        return POSA_EFIELD;
    for (int i = 0; i < MSGID_CODE_LEN; i++)
        if (!is_code_char(code[i]))
            return POSA_EFIELD;
    memcpy(g.code, code, MSGID_CODE_LEN);
    if (last_issued) {
        if (!msgid_is_valid(last_issued, strlen(last_issued), code))
            return POSA_EFIELD;
        msgid_split(last_issued, &g.last_time, &g.last_seq);
    }
    *gen = g;
    return 0;
}

int msgid_next(struct msgid_gen *gen, int64_t now, char ret[MSGID_LEN + 1])
{
    uint32_t first = gen->terminal == MSGID_NO_TERMINAL ? 0 : (uint32_t)gen->terminal * 1000;
    uint32_t last = gen->terminal == MSGID_NO_TERMINAL ? MSGID_SEQ_MAX : first + 999;
    int64_t t = now;
    uint32_t seq = first;

    if (!is_time_valid(now))
        return POSA_EDATE;
    if (t <= gen->last_time) {
        /* Same second, or the clock went back: continue after the last id (one issued
         * before the terminal was set, or changed, may lie outside its range). A second
         * used up lends the next one: ids only need to be unique and ascending, and waiting
         * for the clock would stop every message for as long as it was set back. */
        t = gen->last_time;
        seq = gen->last_seq < first ? first : gen->last_seq + 1;
        if (seq > last) {
            t = datetime_add_seconds(t, 1);
            seq = first;
        }
    }
    memcpy(ret, gen->code, MSGID_CODE_LEN);
    for (int64_t i = MSGID_CODE_LEN + 13, v = t; i >= MSGID_CODE_LEN; i--, v /= 10)
        ret[i] = (char)('0' + v % 10);
    for (int i = MSGID_LEN - 1, s = (int)seq; i >= MSGID_CODE_LEN + 14; i--, s /= 10)
        ret[i] = (char)('0' + s % 10);
    ret[MSGID_LEN] = '\0';
    gen->last_time = t;
    gen->last_seq = seq;
    return 0;
}
