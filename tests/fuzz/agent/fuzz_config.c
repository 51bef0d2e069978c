/* libFuzzer target: posad's configuration reader (config_load, then config_check) on any
 * bytes, read from a memory file as from disk. An error must say what and where; what it
 * accepts must leave each text key terminated inside its field. */
#define _GNU_SOURCE /* memfd_create */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "agent/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TERMINATED(field) (strnlen((field), sizeof(field)) < sizeof(field))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct posad_config cfg;
    static char path[64];
    static int fd = -1;
    char msg[512] = "";

    if (fd < 0) {
        if ((fd = memfd_create("posad.conf", 0)) < 0)
            abort();
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) < 0 || (size && pwrite(fd, data, size, 0) != (ssize_t)size))
        abort();
    config_defaults(&cfg);
    if (config_load(&cfg, path, msg, sizeof msg) < 0) {
        if (!msg[0])
            abort();
        return 0;
    }
    if (!TERMINATED(cfg.data_dir) || !TERMINATED(cfg.listen) || !TERMINATED(cfg.url) ||
        !TERMINATED(cfg.clients) || !TERMINATED(cfg.emergency_depts))
        abort();
    if (config_check(&cfg, path, msg, sizeof msg) < 0 && !msg[0])
        abort();
    return 0;
}
