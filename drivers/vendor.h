/* The national / vendor card library (ReadCardBas, national-interface.md §4.2), used when
 * a province needs PSAM or HSM authentication that plain reads cannot do. The library is
 * loaded with dlopen from a configured path; its GBK pipe-separated output is parsed by a
 * pure function. */
#ifndef POSA_DRIVERS_VENDOR_H
#define POSA_DRIVERS_VENDOR_H

#include <stddef.h>
#include <stdint.h>

#include "drivers/card.h"

#define VENDOR_OUT_MAX 4096 /* bytes handed to ReadCardBas for each output buffer */

/* Parses `区划|社会保障号码|卡号|卡识别码|姓名|ATR|规范版本|发卡日期|卡有效期|...|` (GBK),
 * also with one leading status field as some wrappers add. Fields after 卡有效期 are
 * ignored. Fills *ret (profile "vendor") only if every field checks out; 0 or
 * DRV_EVENDOR / DRV_EFIELD / DRV_EDATE / DRV_EGBK. */
int vendor_out_parse(const uint8_t *text, size_t len, struct card_identity *ret);

/* int ReadCardBas(char *pCardInfo, char *pBusiCardInfo): 0 = OK. */
typedef int (*vendor_read_fn)(char *card_info, char *busi_card_info);
/* int Init(const char *pInitInfo, char *pErrMsg): 0 = OK; optional. */
typedef int (*vendor_init_fn)(const char *init_info, char *err_msg);

struct vendor_lib {
    void *handle;
    vendor_read_fn read_card_bas;
    int last_rc; /* the library's own code of the last failed call */
};

/* Loads path and resolves ReadCardBas; calls Init(init_json) if init_json is not NULL
 * and the library has it. 0 or DRV_EVENDOR (missing file, symbol, or Init failed). */
int vendor_lib_open(struct vendor_lib *lib, const char *path, const char *init_json);
void vendor_lib_close(struct vendor_lib *lib);

/* Calls ReadCardBas and parses its output. Blocking (the library drives the reader):
 * call on the reader thread only, with no PC/SC handle held on the card. */
int vendor_read_identity(struct vendor_lib *lib, struct card_identity *ret);

#endif
