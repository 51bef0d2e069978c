/* posad's log: one line per event, text (key=value) or JSON, with a level filter. Values
 * are plain strings; identity numbers and names must go through core/mask.h first. Loop
 * thread only (the database thread reports through the loop). */
#ifndef POSA_AGENT_LOG_H
#define POSA_AGENT_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum log_level { LOGL_DEBUG, LOGL_INFO, LOGL_WARN, LOGL_ERROR };

/* path "" or NULL = stderr. level "debug|info|warn|error", format "text|json". A file another
 * account owns (-EPERM) or a symbolic link (-ELOOP) is refused. */
int log_open(const char *path, const char *level, const char *format);
/* Reopens the file (logrotate's SIGHUP); stderr stays. */
int log_reopen(void);
/* Why log_open or log_reopen failed, in an operator's words. */
const char *log_open_why(int err);
void log_close(void);
bool log_enabled(enum log_level level);

/* Writes one event: pairs of key, value strings, ended by NULL. A NULL value is skipped. A
 * value under the key "err_msg" is text from outside (the platform's words): its numbers,
 * and a name where a name is said, are masked (mask_free_text). */
void log_event(enum log_level level, const char *event, ...) __attribute__((sentinel));

/* An event that outside hands can repeat fast (a wrong token guessed, a scanner's line noise)
 * is logged at most once a second, with how many came since the last line: counts one at
 * now_ms (uv_now) and, when a line is due, writes that count into n and returns true. */
struct log_every {
    uint64_t last_ms, count;
};
bool log_every_second(struct log_every *e, uint64_t now_ms, char n[24]);

#endif
