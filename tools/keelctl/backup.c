/* backup.c — keelctl backup DEST (hot, through the admin API, polled for
 * progress) and keelctl restore SRC (offline: copies the backup's files
 * into --data-dir after checking that no process has the envs open). */
#include "keelctl.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* DEST as an absolute path (keeld may run in another directory). */
static char *absolute(const char *path)
{
    if (path[0] == '/')
        return strdup(path);
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof cwd) == NULL)
        return NULL;
    size_t n = strlen(cwd) + strlen(path) + 2;
    char *out = malloc(n);
    if (out != NULL)
        snprintf(out, n, "%s/%s", cwd, path);
    return out;
}

int cmd_backup(const opts_t *o)
{
    if (o->nargs != 1) {
        fprintf(stderr, "usage: keelctl backup DEST (a new or empty directory on keeld's host)\n");
        return EXIT_USAGE;
    }
    char *dest = absolute(o->args[0]);
    json_t *req = json_pack("{s:s}", "dest", dest ? dest : "");
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    free(dest);
    reply_t r;
    int rc = client_call(o, "POST", "/api/v1/admin/backup", body ? body : "{}", &r);
    free(body);
    if (rc != EXIT_OK)
        return rc;
    if (r.status != 202 && r.status != 200) {
        rc = report_failure(o, "POST /api/v1/admin/backup", &r);
        reply_free(&r);
        return rc;
    }
    char id[64];
    snprintf(id, sizeof id, "%s", jstr(r.json, "backup_id"));
    json_t *state = json_incref(r.json);
    reply_free(&r);
    /* Poll until this backup is done or failed. */
    while (state != NULL && strcmp(jstr(state, "state"), "running") == 0) {
        progress(o, "backup", (double)json_integer_value(json_object_get(state, "steps_done")),
                 (double)json_integer_value(json_object_get(state, "steps_total")), "steps");
        sleep_ms(200);
        if ((rc = client_call(o, "GET", "/api/v1/admin/backup", NULL, &r)) != EXIT_OK)
            break;
        if (r.status != 200 || strcmp(jstr(r.json, "backup_id"), id) != 0) {
            rc = r.status == 200 ? EXIT_SERVER : report_failure(o, "GET /api/v1/admin/backup", &r);
            reply_free(&r);
            break;
        }
        json_decref(state);
        state = json_incref(r.json);
        reply_free(&r);
    }
    if (rc == EXIT_OK && state != NULL) {
        progress(o, "backup", (double)json_integer_value(json_object_get(state, "steps_done")),
                 (double)json_integer_value(json_object_get(state, "steps_total")), "steps");
        progress_end(o);
        bool ok = strcmp(jstr(state, "state"), "done") == 0;
        if (o->json) {
            print_json(state);
        } else if (ok) {
            printf("backup %s complete in %s\n", id, jstr(state, "dest"));
            json_t *f;
            size_t i;
            json_array_foreach(json_object_get(state, "files"), i, f) printf(
                "  %-20s %12lld bytes  as of %s\n", jstr(f, "file"),
                (long long)json_integer_value(json_object_get(f, "bytes")), jstr(f, "started_at"));
            printf("  manifest.json\n");
        } else {
            fprintf(stderr, "keelctl: backup %s failed: %s\n", id, jstr(state, "error"));
        }
        if (!ok)
            rc = EXIT_SERVER;
    }
    json_decref(state);
    return rc;
}

/* ---- restore ---- */

/* The pid holding the LMDB lock of env directory `dir` (0: none). */
static long env_lock_holder(const char *dir)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/lock.mdb", dir);
    int fd = open(path, O_RDWR);
    if (fd < 0)
        return 0;
    /* Every process with the env open holds a lock on byte 0 (LMDB's
     * mdb_env_excl_lock); F_GETLK reports one of them. */
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
    long pid = 0;
    if (fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK)
        pid = fl.l_pid > 0 ? fl.l_pid : -1;
    close(fd);
    return pid;
}

static int make_dir(const char *path)
{
    char *copy = strdup(path);
    if (copy == NULL)
        return ENOMEM;
    for (char *p = copy + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(copy, 0700) != 0 && errno != EEXIST) {
            int e = errno;
            free(copy);
            return e;
        }
        *p = '/';
    }
    int rc = mkdir(copy, 0700) != 0 && errno != EEXIST ? errno : 0;
    free(copy);
    return rc;
}

static int copy_file(const char *from, const char *to)
{
    int in = open(from, O_RDONLY), out = -1, rc = 0;
    char tmp[PATH_MAX + 16];
    snprintf(tmp, sizeof tmp, "%s.restore-tmp", to);
    if (in < 0)
        return errno;
    if ((out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0) {
        rc = errno;
        close(in);
        return rc;
    }
    static char buf[1 << 16];
    ssize_t n;
    while (rc == 0 && (n = read(in, buf, sizeof buf)) != 0) {
        if (n < 0) {
            rc = errno;
            break;
        }
        for (ssize_t done = 0; done < n;) {
            ssize_t w = write(out, buf + done, (size_t)(n - done));
            if (w < 0) {
                rc = errno;
                break;
            }
            done += w;
        }
    }
    if (rc == 0 && fsync(out) != 0)
        rc = errno;
    if (close(out) != 0 && rc == 0)
        rc = errno;
    close(in);
    if (rc == 0 && rename(tmp, to) != 0)
        rc = errno;
    if (rc != 0)
        unlink(tmp);
    return rc;
}

/* An empty file dir/name, durable. 0 or an errno. */
static int write_marker(const char *dir, const char *name)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return errno;
    int rc = fsync(fd) == 0 ? 0 : errno;
    close(fd);
    return rc;
}

static void fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

int cmd_restore(const opts_t *o)
{
    if (o->nargs != 1) {
        fprintf(stderr, "usage: keelctl restore SRC --data-dir DIR [--yes] (keeld stopped)\n");
        return EXIT_USAGE;
    }
    const char *src = o->args[0];
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/manifest.json", src);
    json_error_t err;
    json_t *manifest = json_load_file(path, 0, &err);
    json_t *files = json_object_get(manifest, "files");
    if (!json_is_array(files) || json_array_size(files) == 0) {
        fprintf(stderr, "keelctl: %s: not a keel backup (%s)\n", path,
                manifest ? "no files listed" : err.text);
        json_decref(manifest);
        return EXIT_USAGE;
    }
    /* Check everything before copying anything. */
    json_t *f;
    size_t i;
    int rc = EXIT_OK;
    json_array_foreach(files, i, f)
    {
        const char *file = jstr(f, "file"), *instance = jstr(f, "instance");
        char from[PATH_MAX], env[PATH_MAX - 64], target[PATH_MAX];
        snprintf(from, sizeof from, "%s/%s", src, file);
        snprintf(env, sizeof env, "%s/%s", o->data_dir, instance);
        snprintf(target, sizeof target, "%s/data.mdb", env);
        struct stat st;
        if (*instance == '\0' || strchr(instance, '/') != NULL || stat(from, &st) != 0 ||
            (json_int_t)st.st_size != json_integer_value(json_object_get(f, "bytes"))) {
            fprintf(stderr,
                    "keelctl: %s is missing or does not have the size the manifest "
                    "says: the backup is incomplete\n",
                    from);
            rc = EXIT_USAGE;
            break;
        }
        long pid = env_lock_holder(env);
        if (pid != 0) {
            fprintf(stderr,
                    "keelctl: %s is in use (LMDB lock held by pid %ld): stop keeld first; "
                    "restore is offline\n",
                    env, pid);
            rc = EXIT_REFUSED;
            break;
        }
        if (!o->yes && access(target, F_OK) == 0) {
            fprintf(stderr, "keelctl: %s exists; pass --yes to replace it with the backup\n",
                    target);
            rc = EXIT_REFUSED;
            break;
        }
    }
    size_t restored = 0;
    json_array_foreach(files, i, f)
    {
        if (rc != EXIT_OK)
            break;
        const char *instance = jstr(f, "instance");
        char from[PATH_MAX], env[PATH_MAX - 64], target[PATH_MAX], lock[PATH_MAX];
        snprintf(from, sizeof from, "%s/%s", src, jstr(f, "file"));
        snprintf(env, sizeof env, "%s/%s", o->data_dir, instance);
        snprintf(target, sizeof target, "%s/data.mdb", env);
        snprintf(lock, sizeof lock, "%s/lock.mdb", env);
        int e = make_dir(env);
        if (e == 0 && env_lock_holder(env) != 0)
            e = EBUSY;
        if (e == 0)
            e = copy_file(from, target);
        /* The store's sequences went back in time: its next start makes
         * them jump ahead, so that no number handed out after the backup
         * (a confirmation number) is handed out again. */
        if (e == 0 && strcmp(jstr(f, "service"), "store") == 0)
            e = write_marker(env, "restored");
        if (e != 0) {
            fprintf(stderr, "keelctl: cannot restore %s into %s: %s\n", from, target, strerror(e));
            rc = e == EBUSY ? EXIT_REFUSED : EXIT_SERVER;
            break;
        }
        unlink(lock); /* unused (checked above); LMDB makes a new one */
        fsync_dir(env);
        restored++;
        progress(o, "restore", (double)restored, (double)json_array_size(files), "files");
        if (!o->json)
            printf("restored %s -> %s\n", jstr(f, "file"), target);
    }
    progress_end(o);
    if (o->json) {
        json_t *j =
            json_pack("{s:s, s:s, s:b, s:I, s:O}", "src", src, "data_dir", o->data_dir, "restored",
                      rc == EXIT_OK, "files_restored", (json_int_t)restored, "manifest", manifest);
        print_json(j);
        json_decref(j);
    } else if (rc == EXIT_OK) {
        printf("backup %s (taken %s) restored into %s; start keeld on it\n",
               jstr(manifest, "backup_id"), jstr(manifest, "started_at"), o->data_dir);
    }
    json_decref(manifest);
    return rc;
}
