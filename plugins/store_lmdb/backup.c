/*
 * backup.c — the store's hot backup, on a worker thread: lmdb_backup()
 * (a compact copy from one read txn, so a consistent point in time while
 * writers go on; fsynced and renamed into place).
 */
#include "store_lmdb.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct backup_job {
    sl_t *sl;
    keel_store_backup_fn done;
    void *arg;
    char path[];
} backup_job_t;

static void backup_work(void *arg)
{
    backup_job_t *job = arg;
    sl_t *sl = job->sl;
    uint64_t bytes = 0;
    int status = KEEL_EUNAVAIL;
    char err[512];
    if (sl->env != NULL && !sl->broken) {
        int rc = lmdb_backup(sl->env, job->path, &bytes, err, sizeof err);
        status = rc == 0 ? 0 : rc == ENOSPC ? KEEL_EFULL : rc == ENOMEM ? KEEL_ENOMEM : KEEL_EIO;
        if (rc != 0)
            sl->host->log(sl->self, KEEL_LOG_ERROR, "backup: %s", err);
        else
            sl->host->log(sl->self, KEEL_LOG_INFO, "backup written to '%s' (%llu bytes)", job->path,
                          (unsigned long long)bytes);
    }
    job->done(job->arg, status, bytes);
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
