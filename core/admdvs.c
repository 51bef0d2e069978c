/* The 31 province-level divisions of the mainland by the first two digits of their code
 * (GB/T 2260). Hong Kong, Macao and Taiwan take no part in cross-province settlement. */
#include "core/admdvs.h"

#include <stddef.h>

static const struct {
    char prefix[3];
    const char *name;
} provinces[] = {
    {"11", "北京市"},
    {"12", "天津市"},
    {"13", "河北省"},
    {"14", "山西省"},
    {"15", "内蒙古自治区"},
    {"21", "辽宁省"},
    {"22", "吉林省"},
    {"23", "黑龙江省"},
    {"31", "上海市"},
    {"32", "江苏省"},
    {"33", "浙江省"},
    {"34", "安徽省"},
    {"35", "福建省"},
    {"36", "江西省"},
    {"37", "山东省"},
    {"41", "河南省"},
    {"42", "湖北省"},
    {"43", "湖南省"},
    {"44", "广东省"},
    {"45", "广西壮族自治区"},
    {"46", "海南省"},
    {"50", "重庆市"},
    {"51", "四川省"},
    {"52", "贵州省"},
    {"53", "云南省"},
    {"54", "西藏自治区"},
    {"61", "陕西省"},
    {"62", "甘肃省"},
    {"63", "青海省"},
    {"64", "宁夏回族自治区"},
    {"65", "新疆维吾尔自治区"},
    /* The Corps is a party to cross-province settlement beside the provinces (the 2022
     * notice and operating procedures, §11); its medical insurance uses 66xxxx. */
    {"66", "新疆生产建设兵团"},
};

const char *admdvs_province(const char *code)
{
    if (!code)
        return NULL;
    for (int i = 0; i < 6; i++)
        if (code[i] < '0' || code[i] > '9')
            return NULL;
    if (code[6] != '\0')
        return NULL;
    for (size_t i = 0; i < sizeof provinces / sizeof provinces[0]; i++)
        if (code[0] == provinces[i].prefix[0] && code[1] == provinces[i].prefix[1])
            return provinces[i].name;
    return NULL;
}
