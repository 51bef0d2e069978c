/* posactl: the operators' CLI over posad's Unix socket (his-api.md "Running"). One blocking
 * HTTP/1.1 request per run, the answer parsed by http-parser and json-c and shown as aligned
 * tables, or as posad's JSON with --json. Exit 0 ok, 1 runtime failure or an error answer,
 * 2 bad usage, 3 a reconciliation that does not match (for the scripts that run it daily). */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <http_parser.h>
#include <json-c/json.h>

#include "core/bound.h"
#include "core/datetime.h"
#include "core/str.h"
#include "interface/json/jsonmap.h"

#define CTL_DEFAULT_SOCKET "/run/posa/posa.sock"
#define CTL_TIMEOUT_S      60         /* a reconciliation asks the platform: allow it time */
#define CTL_RESPONSE_MAX   BOUND_BODY /* no answer of posad's is larger than a request may be */
#define CTL_ID_MAX         BOUND_PATH_ID /* ids in paths: what posad's router takes */
#define CTL_CELL_MAX       40         /* display columns of one table cell (not the last) */
#define CTL_COLUMNS_MAX    32

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2, EXIT_MISMATCH = 3, EXIT_NOT_YET = 4 };

struct options {
    const char *socket;
    bool json;
    bool report;       /* reconcile: only show the stored report */
    const char *after; /* queue: the page after this row (its seq, as next_after says) */
};

struct command {
    const char *name;
    int n_args;
    const char *usage;
    const char *help;
};

static const struct command commands[] = {
    {"status", 0, "status", "posad's health: upstream state, queue depth, readers, catalog"},
    {"readers", 0, "readers", "card readers and QR scanners with their desks and state"},
    {"queue", 0, "queue [--after SEQ]",
     "the outbox: messages waiting for, or being resolved with, the platform,\n"
     "                             1,000 a page (--after: the page after row SEQ, the\n"
     "                             next_after a truncated page gives)"},
    {"retry", 1, "retry MSGID", "send a queued message now instead of at its next attempt"},
    {"reconcile", 1, "reconcile [--report] DATE",
     "reconcile DATE (a day YYYY-MM-DD, or a month YYYY-MM) with the platform now\n"
     "                             and show the report\n"
     "                             (--report: show the last report, ask nothing upstream)"},
    {"settlement", 1, "settlement ID", "a settlement's state, amounts and upstream message"},
    {"audit", 0, "audit",
     "who settled, cancelled or retried what: the newest rows (up to 1,000), after\n"
     "                             checking the whole log's hash chain"},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: posactl [--socket PATH] [--json] COMMAND [ARGS]\n\n"
        "Talks to posad over its Unix socket (--socket, else $POSA_SOCKET, else " CTL_DEFAULT_SOCKET
        ").\n\ncommands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-26s %s\n", commands[i].usage, commands[i].help);
    fprintf(out, "\noptions:\n"
                 "  --socket PATH              posad's HIS API socket\n"
                 "  --json                     print posad's JSON answer as is\n"
                 "  -V, --version              posactl's version\n"
                 "  -h, --help                 this text\n\n"
                 "exit status: 0 ok, 1 posad unreachable or answered an error (its code and "
                 "message are printed), 2 bad usage, 3 the period does not reconcile, or the "
                 "audit log's chain is broken, 4 posad or the platform is not well (status), or "
                 "the period cannot be compared yet (reconcile: run it again later)\n");
}

/* --- HTTP over the Unix socket ---------------------------------------------------------- */

struct response {
    int status;
    char *body;
    size_t len;
    bool complete;
    bool too_large;
    bool no_memory;
};

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct response *r = p->data;
    char *grown;

    if (r->len + len > CTL_RESPONSE_MAX) {
        r->too_large = true;
        return 1;
    }
    grown = realloc(r->body, r->len + len + 1);
    if (!grown) {
        r->no_memory = true;
        return 1;
    }
    memcpy(grown + r->len, at, len);
    r->len += len;
    grown[r->len] = '\0';
    r->body = grown;
    return 0;
}

static int on_complete(http_parser *p)
{
    struct response *r = p->data;

    r->status = (int)p->status_code;
    r->complete = true;
    return 0;
}

static int connect_socket(const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    struct timeval tv = {.tv_sec = CTL_TIMEOUT_S};
    int fd;

    memcpy(addr.sun_path, path, strlen(path) + 1); /* length checked in main() */
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        int err = -errno;

        close(fd);
        return err;
    }
    return fd;
}

static int send_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads the answer until http-parser has a whole message (or the peer closes). */
static int read_response(int fd, struct response *r)
{
    static const http_parser_settings settings = {.on_body = on_body,
                                                  .on_message_complete = on_complete};
    http_parser parser;
    char buf[16384];

    http_parser_init(&parser, HTTP_RESPONSE);
    parser.data = r;
    while (!r->complete) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
        /* n == 0 tells http-parser of EOF, which ends a body without a length. */
        if (http_parser_execute(&parser, &settings, buf, (size_t)n) != (size_t)n ||
            HTTP_PARSER_ERRNO(&parser) != HPE_OK) {
            if (r->too_large || r->no_memory)
                return r->too_large ? -EFBIG : -ENOMEM;
            if (!r->complete)
                return n == 0 ? -ENODATA : -EPROTO;
        }
        if (n == 0 && !r->complete)
            return -ENODATA;
    }
    return 0;
}

/* One request, one answer. Returns 0 or a -errno, with a message already printed. */
static int ctl_call(const char *socket_path, const char *method, const char *path, const char *body,
                    struct response *ret)
{
    size_t body_len = body ? strlen(body) : 0;
    char head[512];
    int fd, err, n;

    n = snprintf(head, sizeof head,
                 "%s %s HTTP/1.1\r\nHost: posad\r\nUser-Agent: posactl\r\n"
                 "Accept: application/json\r\nConnection: close\r\n"
                 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                 method, path, body_len);
    if (n < 0 || (size_t)n >= sizeof head)
        return -EINVAL;
    if ((fd = connect_socket(socket_path)) < 0) {
        /* Refused for want of permission, posad is running: the socket is its group's. */
        fprintf(stderr, "posactl: cannot connect to posad at %s: %s\nposactl: %s\n", socket_path,
                strerror(-fd),
                fd == -EACCES || fd == -EPERM
                    ? "this user may not reach the socket (posad makes it its user's and its "
                      "group's; ls -l it and its directory): run posactl as a member of that "
                      "group, or as posad's user"
                    : "is posad running? --socket PATH or POSA_SOCKET names another socket");
        return fd;
    }
    err = send_all(fd, head, (size_t)n);
    if (!err && body_len)
        err = send_all(fd, body, body_len);
    if (!err)
        err = read_response(fd, ret);
    close(fd);
    if (err == -ETIMEDOUT)
        fprintf(stderr, "posactl: posad did not answer within %d s%s\n", CTL_TIMEOUT_S,
                strcmp(path, "/v1/reconcile") == 0
                    ? " (a month's reconciliation may take longer: posad goes on with it; "
                      "posactl reconcile --report PERIOD shows it once done)"
                    : "");
    else if (err == -EFBIG)
        fprintf(stderr, "posactl: posad's answer is larger than %u bytes\n", CTL_RESPONSE_MAX);
    else if (err == -EPROTO)
        fprintf(stderr, "posactl: posad's answer is not valid HTTP\n");
    else if (err == -ENODATA)
        fprintf(stderr, "posactl: posad closed the connection before it answered in full\n");
    else if (err)
        fprintf(stderr, "posactl: talking to posad at %s: %s\n", socket_path, strerror(-err));
    return err;
}

/* --- display ----------------------------------------------------------------------------- */

/* Terminal columns of one code point: East Asian wide and fullwidth ranges take two. */
static int cp_width(unsigned cp)
{
    if (cp == 0 || (cp >= 0x300 && cp <= 0x36F) || cp == 0x200B)
        return 0;
    if ((cp >= 0x1100 && cp <= 0x115F) || (cp >= 0x2E80 && cp <= 0x303E) ||
        (cp >= 0x3041 && cp <= 0x33FF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
        (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0xA000 && cp <= 0xA4CF) ||
        (cp >= 0xAC00 && cp <= 0xD7A3) || (cp >= 0xF900 && cp <= 0xFAFF) ||
        (cp >= 0xFE30 && cp <= 0xFE4F) || (cp >= 0xFF00 && cp <= 0xFF60) ||
        (cp >= 0xFFE0 && cp <= 0xFFE6) || (cp >= 0x1F300 && cp <= 0x1F64F) ||
        (cp >= 0x20000 && cp <= 0x3FFFD))
        return 2;
    return 1;
}

/* Decodes one UTF-8 sequence at s: its length in bytes (1 for a stray byte) and code point. */
static size_t utf8_next(const unsigned char *s, unsigned *ret_cp)
{
    size_t len = *s >= 0xF0 ? 4 : *s >= 0xE0 ? 3 : *s >= 0xC0 ? 2 : 1;
    unsigned cp = len == 1 ? *s : *s & (0x3F >> (len - 1));

    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *ret_cp = 0xFFFD;
            return 1;
        }
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    *ret_cp = cp;
    return len;
}

static int text_width(const char *text)
{
    int w = 0;

    for (const unsigned char *p = (const unsigned char *)text; *p;) {
        unsigned cp;

        p += utf8_next(p, &cp);
        w += cp_width(cp);
    }
    return w;
}

/* Prints text in at most max columns, cut at a character boundary ("~" marks a cut), then
 * pads to cols; control characters are shown as '?', so an answer cannot drive the terminal. */
/* C0, DEL and C1 controls: an answer never drives the terminal (ESC sequences, CSI as
 * U+009B), it shows them as '?'. */
static bool is_control(unsigned cp)
{
    return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0);
}

/* At most max bytes of text onto f, controls as '?'. */
static void put_safe(FILE *f, const char *text, size_t max)
{
    const unsigned char *p = (const unsigned char *)text, *end = p + strnlen(text, max);

    while (p < end) {
        unsigned cp;
        size_t len = utf8_next(p, &cp);

        if (len > (size_t)(end - p))
            break;
        if (is_control(cp))
            fputc('?', f);
        else
            fwrite(p, 1, len, f);
        p += len;
    }
}

static void print_cell(const char *text, int cols, int max, bool right)
{
    int width = text_width(text), used = 0;
    bool cut = width > max;

    if (right && !cut && cols > width)
        printf("%*s", cols - width, "");
    for (const unsigned char *p = (const unsigned char *)text; *p;) {
        unsigned cp;
        size_t len = utf8_next(p, &cp);
        int w = cp_width(cp);

        if (cut && used + w > max - 1)
            break;
        if (is_control(cp))
            putchar('?');
        else
            fwrite(p, 1, len, stdout);
        used += w;
        p += len;
    }
    if (cut)
        putchar('~'), used++;
    if ((!right || cut) && cols > used)
        printf("%*s", cols - used, "");
}

/* A scalar as table text; objects and arrays as compact JSON. */
static const char *cell_text(struct json_object *v)
{
    switch (json_object_get_type(v)) {
    case json_type_null: return "-";
    case json_type_object:
    case json_type_array:
        return json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
                                                     JSON_C_TO_STRING_NOSLASHESCAPE);
    default: return json_object_get_string(v);
    }
}

/* Counts and money strings ("12.50") are right-aligned; codes of digits ("310100") are not. */
static bool is_numeric(struct json_object *v)
{
    const char *s, *dot;

    if (json_object_is_type(v, json_type_int))
        return true;
    if (!json_object_is_type(v, json_type_string))
        return false;
    s = json_object_get_string(v);
    if (*s == '-')
        s++;
    dot = strchr(s, '.');
    return dot && dot > s && dot[1] && strspn(s, "0123456789.") == strlen(s) &&
           strchr(dot + 1, '.') == NULL;
}

struct table {
    const char *keys[CTL_COLUMNS_MAX];
    int widths[CTL_COLUMNS_MAX];
    bool numbers[CTL_COLUMNS_MAX], texts[CTL_COLUMNS_MAX]; /* right-aligned: numbers only */
    size_t n;
};

/* A row with nested objects spread into dotted columns ("local_totals.count"). */
static void flat_row_add(struct json_object *flat, struct json_object *obj, const char *prefix)
{
    json_object_object_foreach(obj, key, val)
    {
        char name[128];

        snprintf(name, sizeof name, "%s%s%s", prefix, prefix[0] ? "." : "", key);
        if (json_object_is_type(val, json_type_object) && json_object_object_length(val) > 0)
            flat_row_add(flat, val, name);
        else
            json_object_object_add(flat, name, json_object_get(val));
    }
}

static void table_columns(struct json_object *rows, struct table *t)
{
    for (size_t r = 0; r < json_object_array_length(rows); r++) {
        json_object_object_foreach(json_object_array_get_idx(rows, r), key, val)
        {
            size_t c = 0;
            int w = text_width(cell_text(val));

            while (c < t->n && strcmp(t->keys[c], key) != 0)
                c++;
            if (c == t->n) {
                if (t->n == CTL_COLUMNS_MAX)
                    continue;
                t->keys[t->n] = key;
                t->widths[t->n++] = text_width(key);
            }
            if (w > t->widths[c])
                t->widths[c] = w;
            if (is_numeric(val))
                t->numbers[c] = true;
            else if (val)
                t->texts[c] = true;
        }
    }
}

static void print_row(const struct table *t, struct json_object *row, int indent)
{
    printf("%*s", indent, "");
    for (size_t c = 0; c < t->n; c++) {
        bool last = c + 1 == t->n, right = t->numbers[c] && !t->texts[c];
        struct json_object *v = NULL;
        const char *text = t->keys[c]; /* the header when row is NULL */

        if (row)
            text = json_object_object_get_ex(row, t->keys[c], &v) ? cell_text(v) : "";
        print_cell(text, last && !right ? 0 : t->widths[c], last ? 1 << 20 : t->widths[c], right);
        printf(last ? "\n" : "  ");
    }
}

/* An array of objects as a table: one column per key, in first-seen order, a header line,
 * every cell but the last cut at CTL_CELL_MAX columns. */
static void print_table(struct json_object *rows, int indent)
{
    struct json_object *flat = json_object_new_array();
    struct table t = {.n = 0};

    if (!flat)
        return;
    for (size_t r = 0; r < json_object_array_length(rows); r++) {
        struct json_object *row = json_object_new_object();

        if (!row)
            break;
        flat_row_add(row, json_object_array_get_idx(rows, r), "");
        json_object_array_add(flat, row);
    }
    table_columns(flat, &t);
    for (size_t c = 0; c + 1 < t.n; c++)
        if (t.widths[c] > CTL_CELL_MAX)
            t.widths[c] = CTL_CELL_MAX;
    print_row(&t, NULL, indent);
    for (size_t r = 0; r < json_object_array_length(flat); r++)
        print_row(&t, json_object_array_get_idx(flat, r), indent);
    json_object_put(flat);
}

/* Key/value lines of an object, nested objects flattened to dotted keys; arrays are printed
 * afterwards, each under its own heading, as tables. */
struct kv {
    char key[128];
    struct json_object *value;
};

struct flat {
    struct kv scalars[256];
    size_t n_scalars;
    struct kv arrays[32];
    size_t n_arrays;
};

static void flatten(struct json_object *obj, const char *prefix, struct flat *f)
{
    json_object_object_foreach(obj, key, val)
    {
        char name[128];

        snprintf(name, sizeof name, "%s%s%s", prefix, prefix[0] ? "." : "", key);
        if (json_object_is_type(val, json_type_object) && json_object_object_length(val) > 0) {
            flatten(val, name, f);
        } else if (json_object_is_type(val, json_type_array)) {
            if (f->n_arrays < sizeof f->arrays / sizeof f->arrays[0])
                f->arrays[f->n_arrays++] = (struct kv){.value = val};
            else
                continue;
            str_copy(f->arrays[f->n_arrays - 1].key, sizeof f->arrays[0].key, name);
        } else if (f->n_scalars < sizeof f->scalars / sizeof f->scalars[0]) {
            f->scalars[f->n_scalars] = (struct kv){.value = val};
            str_copy(f->scalars[f->n_scalars++].key, sizeof f->scalars[0].key, name);
        }
    }
}

static bool all_objects(struct json_object *a)
{
    for (size_t i = 0; i < json_object_array_length(a); i++)
        if (!json_object_is_type(json_object_array_get_idx(a, i), json_type_object))
            return false;
    return true;
}

static void print_array(const char *key, struct json_object *a)
{
    size_t n = json_object_array_length(a);

    if (n == 0) {
        printf("%s: none\n", key);
    } else if (all_objects(a)) {
        printf("%s (%zu):\n", key, n);
        print_table(a, 2);
    } else {
        printf("%s: ", key);
        for (size_t i = 0; i < n; i++) {
            print_cell(cell_text(json_object_array_get_idx(a, i)), 0, 1 << 20, false);
            printf(i + 1 < n ? ", " : "\n");
        }
    }
}

static void print_object(struct json_object *obj)
{
    struct flat *f = calloc(1, sizeof *f);
    int width = 0;

    if (!f)
        return;
    flatten(obj, "", f);
    for (size_t i = 0; i < f->n_scalars; i++)
        if (text_width(f->scalars[i].key) > width)
            width = text_width(f->scalars[i].key);
    for (size_t i = 0; i < f->n_scalars; i++) {
        print_cell(f->scalars[i].key, width, width, false);
        printf("  ");
        print_cell(cell_text(f->scalars[i].value), 0, 1 << 20, false);
        putchar('\n');
    }
    for (size_t i = 0; i < f->n_arrays; i++) {
        if (i > 0 || f->n_scalars > 0)
            putchar('\n');
        print_array(f->arrays[i].key, f->arrays[i].value);
    }
    free(f);
}

static void print_answer(struct json_object *doc)
{
    if (json_object_is_type(doc, json_type_array))
        print_array("rows", doc);
    else if (json_object_is_type(doc, json_type_object))
        print_object(doc);
    else
        printf("%s\n", cell_text(doc));
}

/* --- commands ---------------------------------------------------------------------------- */

/* A journal row's seq as posad takes it: 1 to 18 digits, no leading zero. */
static bool is_seq(const char *s)
{
    size_t n = strspn(s, "0123456789");

    return n >= 1 && n <= 18 && s[n] == '\0' && (s[0] != '0' || n == 1);
}

/* Ids go into the path: the characters posad's router accepts, nothing to escape. */
static bool is_id(const char *s)
{
    size_t n = strlen(s);

    return n > 0 && n <= CTL_ID_MAX && s[0] != '.' &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

/* An error answer: its code and message on stderr. */
static void print_error(const struct response *r, struct json_object *doc)
{
    struct json_object *e = NULL, *code = NULL, *msg = NULL, *details = NULL;

    if (doc && json_object_object_get_ex(doc, "error", &e) &&
        json_object_is_type(e, json_type_object)) {
        json_object_object_get_ex(e, "code", &code);
        json_object_object_get_ex(e, "message", &msg);
        json_object_object_get_ex(e, "details", &details);
        fputs("posactl: ", stderr);
        put_safe(stderr, code ? json_object_get_string(code) : "ERROR", 64);
        fprintf(stderr, " (HTTP %d): ", r->status);
        put_safe(stderr, msg ? json_object_get_string(msg) : "", 4096);
        fputc('\n', stderr);
        if (details && json_object_object_length(details) > 0) {
            fputs("posactl: details: ", stderr);
            put_safe(stderr,
                     json_object_to_json_string_ext(details, JSON_C_TO_STRING_PLAIN |
                                                                 JSON_C_TO_STRING_NOSLASHESCAPE),
                     1 << 16);
            fputc('\n', stderr);
        }
        return;
    }
    fprintf(stderr, "posactl: posad answered HTTP %d: ", r->status);
    put_safe(stderr, r->body ? r->body : "", 200);
    fputc('\n', stderr);
}

/* A failing answer that is no error but a document (GET /v1/health's 503 on a failed
 * database) is shown like a good one, then said to have failed. */
static bool is_error_answer(struct json_object *doc)
{
    struct json_object *e = NULL;

    return !doc || (json_object_object_get_ex(doc, "error", &e) &&
                    json_object_is_type(e, json_type_object));
}

/* posad's answer as JSON, whole (json-c alone takes "{} junk" as {}); NULL when it is not. */
static struct json_object *answer_json(const struct response *r)
{
    struct json_object *doc = NULL;
    struct jsonmap_error jerr = {0};

    if (r->body && jsonmap_parse(r->body, r->len, &doc, &jerr) < 0)
        doc = NULL;
    return doc;
}

static const char *member_string(struct json_object *doc, const char *key)
{
    struct json_object *v;

    return json_object_object_get_ex(doc, key, &v) && json_object_is_type(v, json_type_string)
               ? json_object_get_string(v)
               : NULL;
}

/* A reconciliation report's verdict on stderr; its exit status (EXIT_OK for any other). */
static int report_verdict(struct json_object *doc)
{
    struct json_object *matched, *asked, *n;
    int64_t unresolved =
        json_object_object_get_ex(doc, "unresolved", &n) ? json_object_get_int64(n) : 0;
    int64_t unreadable =
        json_object_object_get_ex(doc, "unreadable", &n) ? json_object_get_int64(n) : 0;

    size_t listed =
        json_object_object_get_ex(doc, "mismatched", &n) && json_object_is_type(n, json_type_array)
            ? json_object_array_length(n)
            : 0;

    if (!json_object_object_get_ex(doc, "matched", &matched) ||
        !json_object_is_type(matched, json_type_boolean))
        return EXIT_OK;
    /* Differences listed are differences whatever is still on its way: a monitor watching
     * for 3 must not miss them behind "not yet". */
    if (unresolved > 0 && listed == 0) {
        fprintf(stderr,
                "posactl: the period cannot be compared yet: %lld of its settlements or refunds "
                "are still on their way or being resolved with the platform (posactl queue); "
                "reconcile again once they are\n",
                (long long)unresolved);
        return EXIT_NOT_YET;
    }
    if (json_object_get_boolean(matched)) {
        if (json_object_object_get_ex(doc, "upstream_asked", &asked) &&
            json_object_is_type(asked, json_type_boolean) && !json_object_get_boolean(asked))
            fprintf(stderr, "posactl: no local settlement in that period: nothing was compared "
                            "with the platform\n");
        return EXIT_OK;
    }
    if (unresolved > 0)
        fprintf(stderr,
                "posactl: the period does not reconcile with the platform: see mismatched (and "
                "%lld of its settlements or refunds are still being resolved)\n",
                (long long)unresolved);
    else if (unreadable > 0)
        fprintf(stderr,
                "posactl: %lld settlements of the period could not be read from posad's journal "
                "(see its log): the period is not said to reconcile\n",
                (long long)unreadable);
    else
        fprintf(stderr, "posactl: the period does not reconcile with the platform: see groups and "
                        "mismatched\n");
    return EXIT_MISMATCH;
}

/* GET /v1/health's verdict on stderr (posad's status, the platform's state); its exit
 * status (EXIT_OK for any other answer): a monitor's check is posactl status. */
static int health_verdict(struct json_object *doc)
{
    struct json_object *up;
    const char *status = member_string(doc, "status"), *state;

    if (!status || !json_object_object_get_ex(doc, "upstream", &up) ||
        !(state = member_string(up, "state")))
        return EXIT_OK;
    if (strcmp(status, "ok") != 0) {
        fprintf(stderr, "posactl: posad says it is %s: see the status above and its log\n", status);
        return EXIT_NOT_YET;
    }
    if (strcmp(state, "degraded") == 0) { /* his-api.md: messages still go */
        fprintf(stderr, "posactl: the platform is degraded for posad: a message to it failed "
                        "lately; messages are still sent\n");
        return EXIT_NOT_YET;
    }
    if (strcmp(state, "online") != 0) {
        fprintf(stderr, "posactl: the platform is %s for posad: settlements wait or are refused\n",
                state);
        return EXIT_NOT_YET;
    }
    return EXIT_OK;
}

/* Shows an answer; returns the exit status. */
static int show(const struct options *o, const struct response *r)
{
    struct json_object *doc = answer_json(r);
    bool ok = r->status >= 200 && r->status < 300;
    int rc = ok ? EXIT_OK : EXIT_RUNTIME;
    const char *database = member_string(doc, "database");

    if (o->json && doc) { /* posad's words as it said them; anything else is not its answer */
        fputs(r->body, stdout);
        if (r->len == 0 || r->body[r->len - 1] != '\n')
            putchar('\n');
    }
    if (ok && (rc = report_verdict(doc)) == EXIT_OK)
        rc = health_verdict(doc);
    if (!ok && is_error_answer(doc)) {
        print_error(r, doc);
    } else if (!ok) {
        if (!o->json)
            print_answer(doc);
        fprintf(stderr, "posactl: posad answered HTTP %d%s\n", r->status,
                r->status != 503 || !database ? ""
                : strcmp(database, "failed") == 0
                    ? ": its database failed; restart posad (see its log, database_failed)"
                : strcmp(database, "damaged") == 0
                    ? ": its database is damaged; restore posad.db from a backup (see its log, "
                      "database_damaged)"
                    : "");
    } else if (!doc && r->body && r->len > 0) {
        /* With --json too: a script must not take the printed text for posad's answer. */
        fprintf(stderr, "posactl: posad's answer is not JSON\n");
        rc = EXIT_RUNTIME;
    } else if (!o->json && doc) {
        print_answer(doc);
    } else if (!o->json) {
        printf("ok (HTTP %d)\n", r->status);
    }
    json_object_put(doc);
    return rc;
}

static int run(const struct options *o, const char *method, const char *path, const char *body)
{
    struct response r = {0};
    int rc;

    if (ctl_call(o->socket, method, path, body, &r) < 0) {
        free(r.body);
        return EXIT_RUNTIME;
    }
    rc = show(o, &r);
    free(r.body);
    return rc;
}

#define CTL_AUDIT_PAGE 1000

/* The audit log page by page, each checked by posad against the one before: the last page
 * shown (its newest rows), and exit 3 when any page says the chain is broken. */
/* What posactl audit shows: the newest CTL_AUDIT_PAGE rows of the last two pages, and the
 * verdict over every page (a page's own says only its rows). */
static struct json_object *audit_view(struct json_object *before, struct json_object *last,
                                      int64_t checked, int64_t broken)
{
    struct json_object *view = json_object_new_object(), *rows = json_object_new_array();
    size_t n_last = last ? json_object_array_length(last) : 0;
    size_t n_before = before ? json_object_array_length(before) : 0;
    size_t skip = n_before + n_last > CTL_AUDIT_PAGE ? n_before + n_last - CTL_AUDIT_PAGE : 0;

    for (size_t i = skip; i < n_before; i++)
        json_object_array_add(rows, json_object_get(json_object_array_get_idx(before, i)));
    for (size_t i = skip > n_before ? skip - n_before : 0; i < n_last; i++)
        json_object_array_add(rows, json_object_get(json_object_array_get_idx(last, i)));
    json_object_object_add(view, "rows", rows);
    json_object_object_add(view, "chain", json_object_new_string(broken ? "broken" : "intact"));
    json_object_object_add(view, "broken_at", broken ? json_object_new_int64(broken) : NULL);
    json_object_object_add(view, "checked", json_object_new_int64(checked));
    json_object_object_add(
        view, "truncated",
        json_object_new_boolean(checked > (int64_t)json_object_array_length(rows)));
    return view;
}

static int audit(const struct options *o)
{
    char path[96];
    int64_t after = 0, checked = 0, broken = 0;
    struct response r = {0};
    struct json_object *doc = NULL, *before = NULL, *last = NULL, *v, *view;
    int rc;

    for (;;) {
        free(r.body);
        r = (struct response){0};
        json_object_put(doc);
        snprintf(path, sizeof path, "/v1/audit?after=%lld&limit=%d", (long long)after,
                 CTL_AUDIT_PAGE);
        if (ctl_call(o->socket, "GET", path, NULL, &r) < 0) {
            free(r.body);
            rc = EXIT_RUNTIME;
            goto done;
        }
        doc = answer_json(&r);
        if (r.status != 200 || !json_object_object_get_ex(doc, "rows", &v))
            break;
        checked += (int64_t)json_object_array_length(v);
        json_object_put(before);
        before = last;
        last = json_object_get(v);
        if (!broken && json_object_object_get_ex(doc, "broken_at", &v) && v)
            broken = json_object_get_int64(v);
        if (!json_object_object_get_ex(doc, "next_after", &v) || !v)
            break;
        after = json_object_get_int64(v);
    }
    if (r.status == 200 && last) { /* the whole log's answer in place of the last page's */
        view = audit_view(before, last, checked, broken);
        free(r.body);
        r.body = strdup(json_object_to_json_string_ext(view, JSON_C_TO_STRING_PLAIN));
        r.len = r.body ? strlen(r.body) : 0;
        json_object_put(view);
    }
    json_object_put(doc);
    rc = show(o, &r);
    free(r.body);
    if (rc == EXIT_OK && broken) {
        fprintf(stderr,
                "posactl: the audit log's chain is broken at seq %lld: a row was changed or "
                "taken out\n",
                (long long)broken);
        rc = EXIT_MISMATCH;
    }
done:
    json_object_put(before);
    json_object_put(last);
    return rc;
}

__attribute__((format(printf, 1, 2))) static int bad_usage(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("posactl: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nposactl: try 'posactl --help'\n", stderr);
    return EXIT_USAGE;
}

static int dispatch(const struct options *o, const struct command *cmd, const char *arg)
{
    char path[128], body[64];
    int32_t date;

    if (strcmp(cmd->name, "status") == 0)
        return run(o, "GET", "/v1/health", NULL);
    if (strcmp(cmd->name, "readers") == 0)
        return run(o, "GET", "/v1/readers", NULL);
    if (strcmp(cmd->name, "queue") == 0) {
        snprintf(path, sizeof path, "/v1/queue%s%s", o->after ? "?after=" : "",
                 o->after ? o->after : "");
        return run(o, "GET", path, NULL);
    }
    if (strcmp(cmd->name, "audit") == 0)
        return audit(o);
    if (strcmp(cmd->name, "reconcile") == 0) {
        if (date_period_parse(arg, strlen(arg), &date) < 0)
            return bad_usage("'%s' is not a date: write YYYY-MM-DD, or a month YYYY-MM", arg);
        snprintf(path, sizeof path, "/v1/reconcile/%s", arg);
        if (o->report)
            return run(o, "GET", path, NULL);
        snprintf(body, sizeof body, "{\"%s\":\"%s\"}", date % 100 ? "date" : "month", arg);
        return run(o, "POST", "/v1/reconcile", body);
    }
    if (!is_id(arg))
        return bad_usage("'%s' is not an id (1 to 63 letters, digits, '_', '.' or '-')", arg);
    if (strcmp(cmd->name, "retry") == 0) {
        snprintf(path, sizeof path, "/v1/queue/%s/retry", arg);
        return run(o, "POST", path, NULL);
    }
    snprintf(path, sizeof path, "/v1/settlements/%s", arg);
    return run(o, "GET", path, NULL);
}

int main(int argc, char **argv)
{
    struct options o = {.socket = getenv("POSA_SOCKET")};
    const struct command *cmd = NULL;
    const char *args[2];
    int n_args = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return EXIT_OK;
        } else if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
            printf("posactl %s\n", POSA_VERSION);
            return EXIT_OK;
        } else if (strcmp(a, "--json") == 0) {
            o.json = true;
        } else if (strcmp(a, "--report") == 0) {
            o.report = true;
        } else if (strcmp(a, "--after") == 0) {
            if (o.after)
                return bad_usage("--after given twice");
            if (++i == argc || !is_seq(argv[i]))
                return bad_usage("--after needs a row's seq (the next_after a page gives)");
            o.after = argv[i];
        } else if (strcmp(a, "--socket") == 0) {
            if (++i == argc)
                return bad_usage("%s needs a path", a);
            o.socket = argv[i];
        } else if (strncmp(a, "--socket=", 9) == 0) {
            o.socket = a + 9;
        } else if (a[0] == '-' && a[1] != '\0') {
            return bad_usage("unknown option %s", a);
        } else if (!cmd) {
            for (size_t c = 0; c < N_COMMANDS && !cmd; c++)
                if (strcmp(commands[c].name, a) == 0)
                    cmd = &commands[c];
            if (!cmd)
                return bad_usage("unknown command '%s'", a);
        } else if (n_args < 2) {
            args[n_args++] = a;
        } else {
            return bad_usage("too many arguments (%s)", a);
        }
    }
    if (!cmd) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (n_args != cmd->n_args)
        return bad_usage("usage: posactl %s", cmd->usage);
    if (o.report && strcmp(cmd->name, "reconcile") != 0)
        return bad_usage("--report goes with reconcile, not %s", cmd->name);
    if (o.after && strcmp(cmd->name, "queue") != 0)
        return bad_usage("--after goes with queue, not %s", cmd->name);
    if (!o.socket || !o.socket[0])
        o.socket = CTL_DEFAULT_SOCKET;
    if (strlen(o.socket) >= sizeof(((struct sockaddr_un *)0)->sun_path))
        return bad_usage("socket path too long: %s", o.socket);
    signal(SIGPIPE, SIG_IGN);
    return dispatch(&o, cmd, n_args ? args[0] : "");
}
