/* Administrative division codes (行政区划代码, the national interface's *_admdvs): six digits,
 * of which the first two name the province-level division. */
#ifndef POSA_CORE_ADMDVS_H
#define POSA_CORE_ADMDVS_H

/* The province-level division of a code ("320200" -> "江苏省", "310000" -> "上海市"); NULL
 * when code is not six digits of a known division. */
const char *admdvs_province(const char *code);

#endif
