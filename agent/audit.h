/* The audit log of who settled, cancelled or retried what (architecture.md, Security;
 * schema 0016): a row appended in the transaction that journals the action, each chained to
 * the one before by SHA-256, and GET /v1/audit, which pages through the rows and checks the
 * chain. What a row cannot show: rows cut from the end, which leave the chain whole. */
#ifndef POSA_AGENT_AUDIT_H
#define POSA_AGENT_AUDIT_H

#include <stdbool.h>
#include <stdint.h>

#include "cache/audit.h"

struct db;
struct his_call;

/* Who a call is: its token's name, or where it came from ("unix uid 1000", the tokenless
 * loopback's "127.0.0.1:41234"). */
void audit_who(const struct his_call *call, char ret[AUDIT_WHO_MAX + 1]);

/* Appends a row (database thread, in the caller's transaction): its hash chains it to the
 * last row. */
int audit_append(struct db *db, const char *who, const char *action, const char *target,
                 const char *msgid);
/* A message posad sends on its own in place of another (action "reverse": a 2601 of it;
 * "resend": it again under a new msgid, after a lost outcome or a lost session): who is
 * posad, the target the message it stands in for, so that what the platform holds leads
 * back to the cashier's. In the transaction that journals it. */
int audit_standin(struct db *db, const char *action, const char *for_msgid, const char *msgid);

/* Whether row's hash is the one its fields and the previous row's hash make. */
bool audit_row_chains(const char *prev_hash, const struct audit_row *row);

/* GET /v1/audit?after=SEQ&limit=N */
void audit_get(struct his_call *call);

#endif
