/*
 * lmdb_common.h — what every LMDB-backed plugin needs before and around
 * its environment: LMDB errors as KEEL_E* codes, the environment's
 * directory, and the refusal of network filesystems. A static library
 * linked into queue_lmdb and store_lmdb (plugins never include each other).
 */
#ifndef KEEL_LMDB_COMMON_H
#define KEEL_LMDB_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* KEEL_E* for an LMDB or errno code: full map or disk → KEEL_EFULL,
 * reader table full → KEEL_EUNAVAIL, ENOMEM → KEEL_ENOMEM, else KEEL_EIO. */
int lmdb_status(int mdb_rc);

/* mkdir -p with mode 0700. 0 or an errno value. */
int lmdb_make_dirs(const char *path);

/* The name of the network filesystem `path` is on ("NFS", "SMB", "CIFS",
 * "SMB2"), or NULL: LMDB's locks and memory map are unreliable there. */
const char *lmdb_network_filesystem(const char *path);

/* Writes a compact, consistent copy of `env` to `path` while it runs: a
 * temp file beside it, fsynced, renamed into place, its directory fsynced,
 * so `path` is either absent or complete. 0 with the size in *bytes, or an
 * errno value (why, also in err[err_len]). */
struct MDB_env;
int lmdb_backup(struct MDB_env *env, const char *path, uint64_t *bytes, char *err, size_t err_len);
#endif
