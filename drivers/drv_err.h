/* Error codes of drivers/ (-1200..-1299), beside core/err.h's table; drv_err_str() names
 * them and defers every other code to posa_strerror(). */
#ifndef POSA_DRIVERS_DRV_ERR_H
#define POSA_DRIVERS_DRV_ERR_H

enum drv_err {
    /* What the engine acts on. */
    DRV_ECARD_UNREADABLE = -1200, /* card removed mid-read, mute, or refused the plain reads */
    DRV_ENOT_SSC = -1201,         /* a working ISO card that is not a social-security card */
    DRV_EQR_INVALID = -1202,      /* scanned line empty, too long or not printable ASCII */
    /* Causes, carried beside CARD_UNREADABLE for the log. Status words first. */
    DRV_ESW_FILE = -1210,     /* 6A82 file or application not found */
    DRV_ESW_RECORD = -1211,   /* 6A83 record not found */
    DRV_ESW_SECURITY = -1212, /* 6982 security status not satisfied (PSAM needed) */
    DRV_ESW_LENGTH = -1213,   /* 6700 / 6Cxx not resolved: wrong length */
    DRV_ESW_PARAM = -1214,    /* 6A86 / 6B00 / 6A81 wrong P1-P2 or function */
    DRV_ESW_INS = -1215,      /* 6D00 instruction not supported */
    DRV_ESW_CLA = -1216,      /* 6E00 class not supported */
    DRV_ESW_OTHER = -1217,    /* any other status word */
    DRV_ESW_CHAIN = -1218,    /* 61xx chain longer than the response buffer */
    /* Data. */
    DRV_ERECORD = -1220, /* record is not the expected T L V */
    DRV_EFIELD = -1221,  /* a field's value is malformed (digits, length) */
    DRV_EDATE = -1222,   /* BCD date not a valid calendar date */
    DRV_EGBK = -1223,    /* bytes are not valid GB18030 */
    DRV_EVENDOR = -1224, /* vendor library missing, failing or its output malformed */
    /* Transport. */
    DRV_EPCSC = -1230,   /* PC/SC call failed (card still there) */
    DRV_EGONE = -1231,   /* card left or reader reset during the transaction */
    DRV_ECONFIG = -1232, /* desk binding or source configuration invalid */
};

/* A short, plain description of err; never NULL. Codes outside drivers' range go to
 * posa_strerror(). */
const char *drv_err_str(int err);

#endif
