/* A stand-in for the national card library, built by the tests: implements the documented
 * ReadCardBas(pCardInfo, pBusiCardInfo) and Init(pInitInfo, pErrMsg). Its output is the
 * content of the file named by POSA_FAKE_CARDBAS_FILE; POSA_FAKE_CARDBAS_RC forces a
 * return code; POSA_FAKE_INIT_RC makes Init fail. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ReadCardBas(char *card_info, char *busi_card_info);
int Init(const char *init_info, char *err_msg);

int Init(const char *init_info, char *err_msg)
{
    const char *rc = getenv("POSA_FAKE_INIT_RC");
    (void)init_info;
    if (rc && atoi(rc) != 0) {
        strcpy(err_msg, "init refused");
        return atoi(rc);
    }
    return 0;
}

int ReadCardBas(char *card_info, char *busi_card_info)
{
    const char *path = getenv("POSA_FAKE_CARDBAS_FILE");
    const char *rc = getenv("POSA_FAKE_CARDBAS_RC");

    if (rc && atoi(rc) != 0)
        return atoi(rc);
    if (!path)
        return -2; /* -2: 无卡, as the library says */
    FILE *f = fopen(path, "rb");
    if (!f)
        return -11;
    size_t n = fread(card_info, 1, 1024, f); /* the library documents 1024-byte buffers */
    fclose(f);
    card_info[n] = '\0';
    busi_card_info[0] = '\0';
    return 0;
}
