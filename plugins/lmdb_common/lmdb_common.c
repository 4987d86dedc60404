/* lmdb_common.c — see lmdb_common.h. */
#include "lmdb_common.h"

#include <errno.h>
#include <keel/keel.h>
#include <lmdb.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>

int lmdb_status(int mdb_rc)
{
    switch (mdb_rc) {
    case 0:
        return 0;
    case MDB_MAP_FULL:
    case ENOSPC:
        return KEEL_EFULL;
    case ENOMEM:
        return KEEL_ENOMEM;
    case MDB_READERS_FULL:
        return KEEL_EUNAVAIL;
    default:
        return KEEL_EIO;
    }
}

int lmdb_make_dirs(const char *path)
{
    char *copy = strdup(path);
    if (copy == NULL)
        return ENOMEM;
    int rc = 0;
    for (char *c = copy + 1; rc == 0; c++) {
        bool end = *c == '\0';
        if (*c != '/' && !end)
            continue;
        *c = '\0';
        if (mkdir(copy, 0700) != 0 && errno != EEXIST)
            rc = errno;
        if (end)
            break;
        *c = '/';
    }
    free(copy);
    return rc;
}

const char *lmdb_network_filesystem(const char *path)
{
    struct statfs fs;
    if (statfs(path, &fs) != 0)
        return NULL;
    switch ((unsigned long)fs.f_type) {
    case 0x6969UL:
        return "NFS";
    case 0x517BUL:
        return "SMB";
    case 0xFF534D42UL:
        return "CIFS";
    case 0xFE534D42UL:
        return "SMB2";
    default:
        return NULL;
    }
}
