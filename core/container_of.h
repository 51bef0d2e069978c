/* container_of: the struct that embeds a member, from a pointer to that member (a libuv
 * handle, a db_job, an http request inside the owner's state). One definition for every
 * module. */
#ifndef POSA_CORE_CONTAINER_OF_H
#define POSA_CORE_CONTAINER_OF_H

#include <stddef.h>

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

#endif
