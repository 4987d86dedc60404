/* last_fired.c — see last_fired.h. */
#include "last_fired.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int last_fired_load(const char *path, last_fired_t *out, size_t max, size_t *count)
{
    *count = 0;
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return errno == ENOENT ? 0 : -errno;
    char line[256];
    while (*count < max && fgets(line, sizeof line, f) != NULL) {
        char name[LAST_FIRED_MAX_NAME + 1];
        long long unix_s;
        if (sscanf(line, "%64s %lld", name, &unix_s) != 2)
            continue;
        snprintf(out[*count].name, sizeof out[*count].name, "%s", name);
        out[*count].unix_s = unix_s;
        (*count)++;
    }
    int rc = ferror(f) ? -EIO : 0;
    fclose(f);
    return rc;
}

int last_fired_save(const char *path, const last_fired_t *items, size_t count)
{
    char tmp[600];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        return -ENAMETOOLONG;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0)
        return -errno;
    FILE *f = fdopen(fd, "w");
    if (f == NULL) {
        int err = -errno;
        close(fd);
        return err;
    }
    for (size_t i = 0; i < count; i++)
        fprintf(f, "%s %" PRId64 "\n", items[i].name, items[i].unix_s);
    int rc = fflush(f) == 0 && fsync(fd) == 0 ? 0 : -errno;
    if (fclose(f) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc != 0)
        unlink(tmp);
    return rc;
}
