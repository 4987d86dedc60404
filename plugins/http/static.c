/* static.c — GET/HEAD of files under web_root: strong ETags, 304s,
 * MIME types, no listings, nothing outside web_root. */
#include "http.h"
#include "mime.h"
#include "urlpath.h"

#include <event2/buffer.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void not_found(http_exchange_t *ex)
{
    http_error(ex, 404, "not_found", "no such file");
}

/* Dotfiles and dot-directories (.env, .git/, an editor's .swp) are not
 * published, whatever web_root holds; /.well-known/ is, as it is meant to
 * be fetched. */
static bool hidden(const char *decoded)
{
    for (const char *s = decoded; (s = strstr(s, "/.")) != NULL; s++)
        if (!(s == decoded && strncmp(s, "/.well-known/", 13) == 0))
            return true;
    return false;
}

void http_static(http_exchange_t *ex)
{
    const http_config_t *cfg = &ex->loop->srv->cfg;
    if (cfg->web_root == NULL) {
        not_found(ex);
        return;
    }
    char decoded[PATH_MAX];
    int rc = urlpath_decode(ex->target_path, decoded, sizeof decoded - 16);
    if (rc == URLPATH_BAD || rc == URLPATH_TRAVERSAL) {
        http_error(ex, 400, "bad_request", "invalid path");
        return;
    }
    if (rc != URLPATH_OK || hidden(decoded)) {
        not_found(ex);
        return;
    }
    bool slash = decoded[strlen(decoded) - 1] == '/';
    if (slash)
        strcat(decoded, "index.html");
    char joined[PATH_MAX * 2];
    snprintf(joined, sizeof joined, "%s%s", cfg->web_root, decoded);
    /* Resolve symlinks and "." and check the result is inside web_root. */
    char *real = realpath(joined, NULL);
    size_t root_len = strlen(cfg->web_root);
    /* Checked again once resolved: a symlink with a plain name may lead
     * to a dotfile inside web_root. */
    if (real == NULL || strncmp(real, cfg->web_root, root_len) != 0 || real[root_len] != '/' ||
        hidden(real + root_len)) {
        free(real);
        not_found(ex);
        return;
    }
    int fd = open(real, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    /* Not for "//host...": a Location of "//host/" would leave the site. */
    if (fd >= 0 && !slash && ex->target_path[1] != '/' && fstat(fd, &st) == 0 &&
        S_ISDIR(st.st_mode)) {
        /* A directory named without its slash: where its index.html is
         * (relative links in that page resolve against the slash). */
        close(fd);
        free(real);
        char location[PATH_MAX + 2];
        snprintf(location, sizeof location, "%s/%s%s", ex->target_path,
                 ex->query && ex->query[0] ? "?" : "", ex->query ? ex->query : "");
        http_add_header(ex, "Location", location);
        http_error(ex, 301, "moved_permanently", "see %s", location);
        return;
    }
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        free(real);
        not_found(ex); /* directories included: no listings */
        return;
    }
    char etag[96], modified[40];
    etag_format(etag, sizeof etag, (uint64_t)st.st_ino, (uint64_t)st.st_size,
                (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec);
    http_date_format(st.st_mtim.tv_sec, modified, sizeof modified);
    http_add_header(ex, "ETag", etag);
    http_add_header(ex, "Last-Modified", modified);
    http_add_header(ex, "Cache-Control", "no-cache");
    http_add_header(ex, "X-Content-Type-Options", "nosniff");
    if (http_not_modified(http_header(ex, "If-None-Match"), http_header(ex, "If-Modified-Since"),
                          etag, st.st_mtim.tv_sec)) {
        close(fd);
        free(real);
        http_respond(ex, 304, NULL, NULL);
        return;
    }
    const char *type = mime_for_path(real);
    free(real);
    struct evbuffer *body = evbuffer_new();
    if (body == NULL) {
        close(fd);
        http_error(ex, 500, "internal", "out of memory");
        return;
    }
    if (ex->method == HTTP_M_HEAD) {
        char length[32];
        snprintf(length, sizeof length, "%lld", (long long)st.st_size);
        http_add_header(ex, "Content-Length", length);
        close(fd);
    } else if (st.st_size > 0 && evbuffer_add_file(body, fd, 0, st.st_size) != 0) {
        evbuffer_free(body);
        http_error(ex, 500, "internal", "cannot read the file");
        return; /* evbuffer_add_file closed fd */
    } else if (st.st_size == 0) {
        close(fd);
    }
    http_respond(ex, 200, body, type);
    evbuffer_free(body);
}
