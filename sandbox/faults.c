/* Injected faults: a small table of armed faults, consumed one request at a time. */
#include "sandbox/faults.h"

#include <string.h>

#include "core/err.h"

static const char *const mode_names[] = {
    [FAULT_DELAY] = "delay",
    [FAULT_HTTP_500] = "http_500",
    [FAULT_RESET] = "reset",
    [FAULT_DROP_AFTER_COMMIT] = "drop_after_commit",
    [FAULT_REFUSE] = "refuse",
    [FAULT_GARBLE_AFTER_COMMIT] = "garble_after_commit",
    [FAULT_TAMPER_AFTER_COMMIT] = "tamper_after_commit",
    [FAULT_OVERSIZE_AFTER_COMMIT] = "oversize_after_commit",
};

int fault_mode_parse(const char *name, enum fault_mode *ret)
{
    for (size_t i = 0; i < sizeof(mode_names) / sizeof(mode_names[0]); i++) {
        if (strcmp(name, mode_names[i]) == 0) {
            *ret = (enum fault_mode)i;
            return 0;
        }
    }
    return POSA_EFIELD;
}

const char *fault_mode_name(enum fault_mode mode)
{
    return (unsigned)mode < sizeof(mode_names) / sizeof(mode_names[0]) ? mode_names[mode] : "?";
}

int faults_add(struct faults *faults, const struct fault *f)
{
    if (faults->n == FAULTS_MAX)
        return POSA_ETOOLONG;
    faults->list[faults->n++] = *f;
    return 0;
}

void faults_clear(struct faults *faults)
{
    faults->n = 0;
}

static bool take(struct faults *faults, const char *infno, bool any_too, struct fault *ret)
{
    for (size_t i = 0; i < faults->n; i++) {
        struct fault *f = &faults->list[i];

        if ((f->infno[0] || !any_too) && strcmp(f->infno, infno) != 0)
            continue;
        *ret = *f;
        if (--f->count <= 0) {
            memmove(f, f + 1, (faults->n - i - 1) * sizeof(*f));
            faults->n--;
        }
        return true;
    }
    return false;
}

bool faults_take(struct faults *faults, const char *infno, struct fault *ret)
{
    return take(faults, infno, true, ret);
}

bool faults_take_named(struct faults *faults, const char *infno, struct fault *ret)
{
    return take(faults, infno, false, ret);
}
