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

/* The WAL of db's main database: a descriptor of its own, open as long as SQLite has the WAL
 * open, for another thread to fdatasync() while db goes on committing (posad's database
 * thread commits without a sync and a syncer thread syncs behind it: db_worker.h). After a
 * commit has returned, every frame of it is in the file: nothing is left gathered. -1 when
 * db has no WAL open through this VFS. */
int wal_gather_sync_fd(sqlite3 *db);

/* Checkpoints off the committing thread (posad's database thread, the sandbox's loop): a
 * second connection to the database at path, through this VFS, that has read it once (a
 * connection that has not would checkpoint nothing); SQLITE_OK or SQLite's error, *ret
 * closed and NULL then. */
int wal_gather_open_checkpointer(const char *path, sqlite3 **ret);
/* A PASSIVE checkpoint on db: SQLITE_OK with *copied the WAL's frames now in the database
 * (0 when busy: the WAL index was being written as the checkpoint read it; try later), or
 * SQLite's error. */
int wal_gather_checkpoint(sqlite3 *db, int *copied);

#endif
