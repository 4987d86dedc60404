/* lmdb_common.c — see lmdb_common.h. */
#include "lmdb_common.h"

#include <errno.h>
#include <fcntl.h>
#include <keel/keel.h>
#include <libgen.h>
#include <lmdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

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

static int fsync_directory_of(const char *path)
{
    char *copy = strdup(path);
    if (copy == NULL)
        return ENOMEM;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    free(copy);
    if (fd < 0)
        return errno;
    int rc = fsync(fd) == 0 ? 0 : errno;
    close(fd);
    return rc;
}

int lmdb_backup(MDB_env *env, const char *path, uint64_t *bytes, char *err, size_t err_len)
{
    size_t tmp_len = strlen(path) + 16;
    char *tmp = malloc(tmp_len);
    if (tmp == NULL) {
        snprintf(err, err_len, "out of memory");
        return ENOMEM;
    }
    snprintf(tmp, tmp_len, "%s.tmp-XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int rc = errno;
        snprintf(err, err_len, "cannot create '%s': %s", tmp, strerror(rc));
        free(tmp);
        return rc;
    }
    int rc = mdb_env_copyfd2(env, fd, MDB_CP_COMPACT);
    struct stat st = {0};
    if (rc == 0 && (fsync(fd) != 0 || fstat(fd, &st) != 0))
        rc = errno;
    if (close(fd) != 0 && rc == 0)
        rc = errno;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = errno;
    if (rc == 0)
        rc = fsync_directory_of(path);
    if (rc != 0) {
        snprintf(err, err_len, "backup to '%s' failed: %s", path, mdb_strerror(rc));
        unlink(tmp);
    }
    free(tmp);
    *bytes = rc == 0 ? (uint64_t)st.st_size : 0;
    return rc;
}
