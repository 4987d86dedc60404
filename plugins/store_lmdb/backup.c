/*
 * backup.c — the store's hot backup: mdb_env_copyfd2(MDB_CP_COMPACT) into
 * a temporary file beside the target on a worker thread, fsync, rename
 * into place, fsync the directory (as queue_lmdb's backup). LMDB copies
 * from one read txn, so the file is a consistent point in time while
 * writers go on.
 */
#include "store_lmdb.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct backup_job {
    sl_t *sl;
    keel_store_backup_fn done;
    void *arg;
    char path[];
} backup_job_t;

static int fsync_directory_of(const char *path)
{
    char *copy = strdup(path);
    if (copy == NULL)
        return KEEL_ENOMEM;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    free(copy);
    if (fd < 0)
        return KEEL_EIO;
    int rc = fsync(fd) == 0 ? 0 : KEEL_EIO;
    close(fd);
    return rc;
}

static void backup_work(void *arg)
{
    backup_job_t *job = arg;
    sl_t *sl = job->sl;
    size_t tmp_len = strlen(job->path) + 16;
    char *tmp = malloc(tmp_len);
    uint64_t bytes = 0;
    int status = KEEL_ENOMEM, fd = -1;
    if (tmp == NULL)
        goto done;
    if (sl->env == NULL || sl->broken) {
        status = KEEL_EUNAVAIL;
        goto done;
    }
    snprintf(tmp, tmp_len, "%s.tmp-XXXXXX", job->path);
    if ((fd = mkstemp(tmp)) < 0) {
        sl->host->log(sl->self, KEEL_LOG_ERROR, "backup: cannot create '%s': %s", tmp,
                      strerror(errno));
        status = errno == ENOSPC ? KEEL_EFULL : KEEL_EIO;
        goto done;
    }
    int rc = mdb_env_copyfd2(sl->env, fd, MDB_CP_COMPACT);
    struct stat st = {0};
    if (rc == 0 && (fsync(fd) != 0 || fstat(fd, &st) != 0))
        rc = errno;
    if (close(fd) != 0 && rc == 0)
        rc = errno;
    fd = -1;
    if (rc == 0 && rename(tmp, job->path) != 0)
        rc = errno;
    if (rc != 0) {
        sl->host->log(sl->self, KEEL_LOG_ERROR, "backup to '%s' failed: %s", job->path,
                      mdb_strerror(rc));
        unlink(tmp);
        status = rc == ENOSPC ? KEEL_EFULL : KEEL_EIO;
        goto done;
    }
    bytes = (uint64_t)st.st_size;
    status = fsync_directory_of(job->path);
    sl->host->log(sl->self, KEEL_LOG_INFO, "backup written to '%s' (%llu bytes)", job->path,
                  (unsigned long long)bytes);
done:
    if (fd >= 0) {
        close(fd);
        unlink(tmp);
    }
    free(tmp);
    job->done(job->arg, status, status == 0 ? bytes : 0);
    free(job);
}

int sl_backup(void *ctx, const char *path, keel_store_backup_fn done, void *arg)
{
    sl_t *sl = ctx;
    if (path == NULL || path[0] == '\0' || done == NULL)
        return KEEL_EINVAL;
    if (sl->stopping)
        return KEEL_ESHUTDOWN;
    size_t len = strlen(path);
    backup_job_t *job = malloc(sizeof *job + len + 1);
    if (job == NULL)
        return KEEL_ENOMEM;
    job->sl = sl;
    job->done = done;
    job->arg = arg;
    memcpy(job->path, path, len + 1);
    int rc = sl->host->submit(sl->self, backup_work, job);
    if (rc != 0)
        free(job);
    return rc;
}
