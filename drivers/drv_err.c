/* Names of drivers' error codes; everything else is core's table. */
#include "drivers/drv_err.h"

#include "core/err.h"

const char *drv_err_str(int err)
{
    switch (err) {
    case DRV_ECARD_UNREADABLE: return "card unreadable (removed during the read, mute, or refused)";
    case DRV_ENOT_SSC: return "not a social-security card";
    case DRV_EQR_INVALID: return "scanned code invalid (empty, too long or not printable)";
    case DRV_ESW_FILE: return "card: file not found (6A82)";
    case DRV_ESW_RECORD: return "card: record not found (6A83)";
    case DRV_ESW_SECURITY: return "card: security status not satisfied (6982), PSAM needed";
    case DRV_ESW_LENGTH: return "card: wrong length (6700/6Cxx)";
    case DRV_ESW_PARAM: return "card: wrong parameters P1-P2 (6A86/6B00/6A81)";
    case DRV_ESW_INS: return "card: instruction not supported (6D00)";
    case DRV_ESW_CLA: return "card: class not supported (6E00)";
    case DRV_ESW_OTHER: return "card: unexpected status word";
    case DRV_ESW_CHAIN: return "card: response longer than allowed (61xx chain)";
    case DRV_ERECORD: return "card: record is not the expected TLV";
    case DRV_EFIELD: return "card: field value malformed";
    case DRV_EDATE: return "card: date is not a valid BCD date";
    case DRV_EGBK: return "card: text is not valid GBK/GB18030";
    case DRV_EVENDOR: return "vendor card library failed or returned malformed output";
    case DRV_EPCSC: return "PC/SC call failed";
    case DRV_EGONE: return "card removed or reset during the transaction";
    case DRV_ECONFIG: return "drivers configuration invalid";
    default: return posa_strerror(err);
    }
}
