/* Harness of the drivers' integration tests: namespaces, children, event waits. */
#define _GNU_SOURCE /* unshare(2) */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sched.h>

#define MAX_CHILDREN 16

static pid_t children[MAX_CHILDREN];

static void skip(const char *why)
{
    fprintf(stderr,
            "SKIP: %s (%s): needs root or CAP_SYS_ADMIN for unshare(CLONE_NEWNS | "
            "CLONE_NEWNET), since pcscd's /run/pcscd and vpcd's ports are fixed\n",
            why, strerror(errno));
    exit(H_SKIP);
}

static void lo_up(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct ifreq ifr;

    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
        skip("SIOCGIFFLAGS lo");
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
        skip("SIOCSIFFLAGS lo");
    close(fd);
}

void h_isolate(struct harness *h)
{
    memset(h, 0, sizeof *h);
    if (access("/usr/sbin/pcscd", X_OK) != 0 ||
        access("/usr/lib/pcsc/drivers/serial/libifdvpcd.so", R_OK) != 0)
        skip("pcscd or vsmartcard-vpcd not installed");
    if (unshare(CLONE_NEWNS | CLONE_NEWNET) < 0)
        skip("unshare");
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        skip("make / private");
    mkdir("/run/pcscd", 0755);
    if (mount("tmpfs", "/run/pcscd", "tmpfs", 0, "mode=0755") < 0)
        skip("tmpfs on /run/pcscd");
    lo_up();
    strcpy(h->dir, "/tmp/posa-drv-XXXXXX");
    if (!mkdtemp(h->dir))
        abort();
    /* pcscd 1.9.9 ignores PCSCLITE_CSOCK_NAME (only the client library reads it), so the
     * private tmpfs on /run/pcscd is what gives this test its own socket; unset the
     * variable so the client looks there too. */
    unsetenv("PCSCLITE_CSOCK_NAME");
    if (uv_loop_init(&h->loop) != 0)
        abort();
}

static void track(pid_t pid)
{
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (children[i] == 0) {
            children[i] = pid;
            return;
        }
    abort();
}

static void reap(pid_t pid)
{
    kill(pid, SIGTERM);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (children[i] == pid)
            children[i] = 0;
}

static pid_t spawn(const char *log, const char *const argv[])
{
    pid_t pid = fork();

    if (pid < 0)
        abort();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a crashed test */
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        char *args[16];
        size_t n = 0;
        while (argv[n] && n < 15) {
            args[n] = strdup(argv[n]); /* execv's argv is not const; the child execs */
            n++;
        }
        args[n] = NULL;
        execv(args[0], args);
        _exit(127);
    }
    track(pid);
    return pid;
}

void h_pcscd_start(struct harness *h)
{
    char log[128];
    const char *const argv[] = {"/usr/sbin/pcscd", "-f", NULL};

    snprintf(log, sizeof log, "%s/pcscd.log", h->dir);
    h->pcscd = spawn(log, argv);
}

void h_pcscd_stop(struct harness *h)
{
    if (h->pcscd > 0)
        reap(h->pcscd);
    h->pcscd = 0;
}

pid_t h_card_start(struct harness *h, const char *file, int port, int fail_after)
{
    char log[128], path[512], portbuf[16], failbuf[16];

    snprintf(log, sizeof log, "%s/card-%d.log", h->dir, port);
    snprintf(path, sizeof path, "%s/%s", CARDS_DIR, file);
    snprintf(portbuf, sizeof portbuf, "%d", port);
    snprintf(failbuf, sizeof failbuf, "%d", fail_after);
    const char *const argv[] = {"/usr/bin/python3",
                                CARDS_DIR "/ssc_card.py",
                                path,
                                "--port",
                                portbuf,
                                "--fail-after",
                                failbuf,
                                NULL};
    return spawn(log, argv);
}

void h_card_stop(struct harness *h, pid_t pid)
{
    (void)h;
    reap(pid);
}

static void on_event(struct pcsc_watch *w, const struct card_event *ev, void *data)
{
    struct harness *h = data;

    (void)w;
    fprintf(stderr, "event %s reader='%s' desk='%s' status=%d cause=%d name='%s'\n",
            card_event_kind_name(ev->kind), ev->reader, ev->desk, ev->status, ev->cause,
            ev->id.name);
    if (h->nevs < H_EVENTS_MAX) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        h->at_ms[h->nevs] = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        h->evs[h->nevs++] = *ev;
    }
}

void h_watch_start(struct harness *h, const struct pcsc_watch_cfg *cfg)
{
    if (pcsc_watch_start(&h->watch, &h->loop, cfg, on_event, h) != 0)
        abort();
}

static void on_deadline(uv_timer_t *t)
{
    *(bool *)t->data = true;
}

static void on_timer_closed(uv_handle_t *handle)
{
    (void)handle;
}

const struct card_event *h_wait(struct harness *h, enum card_event_kind kind, const char *reader,
                                int timeout_ms)
{
    uv_timer_t timer;
    bool expired = false;
    const struct card_event *found = NULL;

    uv_timer_init(&h->loop, &timer);
    timer.data = &expired;
    uv_timer_start(&timer, on_deadline, (uint64_t)timeout_ms, 0);
    while (!found) {
        for (int i = h->cursor; i < h->nevs && !found; i++)
            if (h->evs[i].kind == kind && (!reader || strcmp(h->evs[i].reader, reader) == 0)) {
                found = &h->evs[i];
                h->delivered_ms = h->at_ms[i];
                h->cursor = i + 1;
            }
        if (found || expired)
            break;
        uv_run(&h->loop, UV_RUN_ONCE);
    }
    uv_close((uv_handle_t *)&timer, on_timer_closed);
    uv_run(&h->loop, UV_RUN_NOWAIT);
    return found;
}

void h_done(struct harness *h)
{
    char cmd[128];

    pcsc_watch_stop(h->watch);
    h->watch = NULL;
    uv_run(&h->loop, UV_RUN_DEFAULT); /* closes the watcher's handle */
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (children[i])
            reap(children[i]);
    if (uv_loop_close(&h->loop) != 0)
        fprintf(stderr, "loop not empty at the end\n");
    if (!getenv("POSA_KEEP_LOGS")) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", h->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", h->dir);
    }
}
