/* The benchmarks' plan file and synthetic msgids (plan.h). */
#include "plan.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/str.h"
#include "loadclient.h"

int plan_load(const char *path, struct plan *pl)
{
    FILE *f = fopen(path, "r");
    char line[512];

    if (!f)
        return -errno;
    memset(pl, 0, sizeof(*pl));
    while (fgets(line, sizeof(line), f)) {
        if (line[0] == 'P' && pl->n_persons < PLAN_PERSONS_MAX) {
            struct plan_person *p = &pl->persons[pl->n_persons];
            if (sscanf(line, "P %39s %23s %7s %7s", p->psn_no, p->certno, p->region,
                       p->insutype) == 4)
                pl->n_persons++;
        } else if (line[0] == 'L' && pl->n_fees < PLAN_LINES_MAX) {
            struct plan_fee *fe = &pl->fees[pl->n_fees];
            if (sscanf(line, "L %47s %23s %23s %23s", fe->code, fe->pric, fe->cnt,
                       fe->amount) == 4)
                pl->n_fees++;
        } else if (line[0] == 'T') {
            sscanf(line, "T %23s", pl->medfee);
        }
    }
    fclose(f);
    return pl->n_persons && pl->n_fees ? 0 : -EINVAL;
}

void plan_next_msgid(struct plan_msgids *ids, char out[31])
{
    struct tm tm;
    char when[16];

    if (ids->seq > 9999) {
        ids->seq = 0;
        ids->time++;
    }
    gmtime_r(&ids->time, &tm);
    strftime(when, sizeof(when), "%Y%m%d%H%M%S", &tm);
    snprintf(out, 31, "%.12s%.14s%04u", PLAN_INSTITUTION, when, ids->seq++ % 10000u);
}

int plan_feedetail(struct loadclient *lc, const struct plan *pl, const char *mdtrt_id,
                   const char *psn_no, const char *fee_time, const char *med_type)
{
    int rc = loadclient_append(lc, "{\"feedetail\":[");
    char buf[STR_DECIMAL_MAX];

    for (size_t i = 0; rc == 0 && i < pl->n_fees; i++) {
        const struct plan_fee *f = &pl->fees[i];
        const char *sn = str_decimal(buf, i + 1);

        rc = loadclient_append(
            lc, i ? "," : "", "{\"feedetl_sn\":\"", sn, "\",\"mdtrt_id\":\"", mdtrt_id,
            "\",\"psn_no\":\"", psn_no, "\",\"chrg_bchno\":\"B0001\",\"fee_ocur_time\":\"",
            fee_time, "\",\"med_list_codg\":\"", f->code, "\",\"medins_list_codg\":\"H", sn,
            "\",\"det_item_fee_sumamt\":\"", f->amount, "\",\"cnt\":\"", f->cnt, "\",\"pric\":\"",
            f->pric, "\",\"etip_flag\":\"0\",\"init_feedetl_sn\":\"\"",
            med_type ? ",\"med_type\":\"" : "", med_type ? med_type : "", med_type ? "\"" : "",
            "}");
    }
    return rc ? rc : loadclient_append(lc, "]}");
}
