/* "posa-wal": posad's SQLite VFS, the default one except for how a WAL file is written.
 *
 * SQLite writes each WAL frame as two writes, its 24-byte header and its page: the commits of
 * one settlement were some sixty pwrite calls, a tenth of posad's CPU spent in the kernel.
 * Here the frames of a transaction are gathered in memory and go out in writes of up to 64 KiB,
 * the last when the commit frame's page arrives, which is before SQLite syncs the file or
 * publishes the frames to readers in the WAL index. A read, sync, truncation, size or close of the file, and any
 * write that does not follow on, write out what was gathered first, so nothing SQLite or
 * another connection reads misses a frame, and a failed write (a full disk) reaches SQLite in
 * the transaction it belongs to. Other files are the default VFS's, untouched. */
#ifndef POSA_CACHE_WAL_GATHER_H
#define POSA_CACHE_WAL_GATHER_H

#include <sqlite3.h>

#define WAL_GATHER_VFS "posa-wal"

/* Registers the VFS (not as the default) once per process; SQLITE_OK or SQLite's error. */
int wal_gather_register(void);

#endif
