/* The few fields a load client checks in an answer, read without building a JSON tree.
 * The clients share the machine with the server they measure, and parsing every 50-row
 * answer into json-c objects was most of their CPU, CPU the server then did not get.
 * jsmn (libjsmn-dev) tokenizes in place: it checks the answer is JSON, and a value is found
 * by its path of keys; nothing is allocated per answer once the token array has grown. */
#ifndef POSA_BENCH_ANSWER_H
#define POSA_BENCH_ANSWER_H

#include <stddef.h>

#ifndef JSMN_HEADER
#define JSMN_HEADER /* declarations only; answer.c holds jsmn's code */
#endif
#include <jsmn.h>

struct answer {
    jsmntok_t *tok;
    int n, cap;
    const char *text;
};

/* 0, -EINVAL when the text is not one JSON object, -ENOMEM. */
int answer_parse(struct answer *a, const char *text, size_t len);
/* A path is object keys, given to the macros as arguments ("output", "result", "mdtrt_id");
 * they pass it on as an array ending in NULL, each key type-checked as a string. */
#define ANSWER_PATH(...) ((const char *const[]){__VA_ARGS__, NULL})

/* The value at the path: its text (a string's without quotes or unescaping) and length;
 * NULL when there is none. */
#define answer_find(a, len, ...) answer_find_path((a), (len), ANSWER_PATH(__VA_ARGS__))
const char *answer_find_path(const struct answer *a, size_t *len, const char *const *path);

/* The same by token index, for walking arrays: the value at a path of keys below token `at`
 * (0 is the whole answer), -1 when there is none; an array's first element (-1 if empty),
 * the value after token `at` in its array, the number of elements; a token's text. */
#define answer_at(a, at, ...) answer_at_path((a), (at), ANSWER_PATH(__VA_ARGS__))
int answer_at_path(const struct answer *a, int at, const char *const *path);
int answer_first(const struct answer *a, int at);
int answer_next(const struct answer *a, int at);
int answer_count(const struct answer *a, int at);
const char *answer_text(const struct answer *a, int at, size_t *len);
/* Whether the value at the path is exactly the text (a string, or a number like infcode 0). */
#define answer_is(a, text, ...) answer_equals((a), (text), ANSWER_PATH(__VA_ARGS__))
int answer_equals(const struct answer *a, const char *text, const char *const *path);
void answer_done(struct answer *a);

#endif
