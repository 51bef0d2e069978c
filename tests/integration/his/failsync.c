/* LD_PRELOAD shim for test_lost_outcomes.py: fdatasync fails with EIO while the file named by
 * POSA_FAILSYNC_FLAG exists, as on a disk that lost a write. */
#define _GNU_SOURCE /* RTLD_NEXT */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

int fdatasync(int fd);

int fdatasync(int fd)
{
    static int (*real)(int);
    const char *flag = getenv("POSA_FAILSYNC_FLAG");

    if (flag && access(flag, F_OK) == 0) {
        errno = EIO;
        return -1;
    }
    if (!real)
        real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    return real ? real(fd) : -1;
}
