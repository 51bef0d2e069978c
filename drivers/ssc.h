/* The social-security card (社会保障卡) application SSSE: its records, their fields, and
 * the plain read of EF05/EF06 (national-interface.md §4.1). Parsing is pure; the read
 * takes any APDU transport. */
#ifndef POSA_DRIVERS_SSC_H
#define POSA_DRIVERS_SSC_H

#include <stddef.h>
#include <stdint.h>

#include "drivers/apdu.h"
#include "drivers/card.h"

/* DF name "sx1.sh." + GBK "社会保障". */
extern const uint8_t ssc_aid[15];

/* A READ RECORD answer is one T L V whose tag is the record identifier. Checks that rec
 * is exactly that (L fits, tag matches) and points *ret_val into rec. 0 or DRV_ERECORD. */
int ssc_record_parse(const uint8_t *rec, size_t len, uint8_t tag, const uint8_t **ret_val,
                     size_t *ret_len);

/* Decodes one field (tag 01..0D or 4E) into id. Tag 4E (name extension) appends to the name
 * already decoded. Unknown tags are ignored. 0 or DRV_EFIELD / DRV_EDATE / DRV_EGBK /
 * POSA_ETOOLONG. */
int ssc_field_decode(struct card_identity *id, uint8_t tag, const uint8_t *val, size_t len);

/* Selects SSSE by name; 0 if the card has it (9000, or 61xx answered), else the mapped SW
 * error or a transport error. Used as the profile probe. */
int ssc_select(const struct apdu_io *io);

/* Full plain read: absolute SELECT of SSSE, EF05 records 01..07, EF06 records 08..0D and
 * 4E. Fills *ret only if every required field was read and decoded; 6A83 on an optional
 * record (02, 04, 0B, 0C, 4E) is not an error. */
int ssc_read_identity(const struct apdu_io *io, struct card_identity *ret);

#endif
