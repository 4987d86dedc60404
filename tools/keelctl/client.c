/* client.c — keelctl's HTTP client on libcurl: one call, its answer in
 * memory, HTTP statuses as exit codes. */
#include "keelctl.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t on_data(char *data, size_t size, size_t count, void *arg)
{
    reply_t *r = arg;
    size_t n = size * count;
    char *grown = realloc(r->body, r->len + n + 1);
    if (grown == NULL)
        return 0;
    memcpy(grown + r->len, data, n);
    r->body = grown;
    r->len += n;
    r->body[r->len] = '\0';
    return n;
}

char *url_escape(const char *text)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(text);
    char *out = malloc(n * 3 + 1), *p = out;
    if (out == NULL)
        return NULL;
    for (const unsigned char *s = (const unsigned char *)text; *s; s++) {
        if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
            strchr("-._~:", *s) != NULL) {
            *p++ = (char)*s;
        } else {
            *p++ = '%';
            *p++ = hex[*s >> 4];
            *p++ = hex[*s & 15];
        }
    }
    *p = '\0';
    return out;
}

int client_call(const opts_t *o, const char *method, const char *path, const char *body,
                reply_t *out)
{
    memset(out, 0, sizeof *out);
    CURL *curl = curl_easy_init();
    if (curl == NULL) {
        fprintf(stderr, "keelctl: cannot initialise libcurl\n");
        return EXIT_UNAVAILABLE;
    }
    size_t url_len = strlen(o->url) + strlen(path) + 1;
    char *url = malloc(url_len);
    if (url == NULL) {
        curl_easy_cleanup(curl);
        return EXIT_UNAVAILABLE;
    }
    size_t base = strlen(o->url);
    while (base > 0 && o->url[base - 1] == '/')
        base--;
    snprintf(url, url_len, "%.*s%s", (int)base, o->url, path);

    bool admin = strncmp(path, "/api/v1/admin", 13) == 0;
    const char *key = admin ? (o->admin_key ? o->admin_key : o->api_key)
                            : (o->api_key ? o->api_key : o->admin_key);
    struct curl_slist *headers = NULL;
    char auth[1024];
    if (key != NULL && key[0] != '\0') {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
        headers = curl_slist_append(headers, auth);
    }
    if (body != NULL)
        headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Accept: application/json");
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    if (body != NULL) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    } else if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    }
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "keelctl/" KEEL_VERSION_STRING);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)(o->timeout_s * 1000));
    CURLcode rc = curl_easy_perform(curl);
    int result = EXIT_OK;
    if (rc != CURLE_OK) {
        fail_local(o, "unavailable", EXIT_UNAVAILABLE,
                   "%s %s: %s (is keeld running at %s? set --url or KEEL_URL)", method, url,
                   curl_easy_strerror(rc), o->url);
        free(out->body);
        out->body = NULL;
        out->len = 0;
        result = EXIT_UNAVAILABLE;
    } else {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out->status);
        if (out->body != NULL)
            out->json = json_loadb(out->body, out->len, 0, NULL);
    }
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    free(url);
    return result;
}

void reply_free(reply_t *r)
{
    free(r->body);
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

int exit_for_status(long status)
{
    if (status >= 200 && status < 300)
        return EXIT_OK;
    switch (status) {
    case 404:
        return EXIT_NOT_FOUND;
    case 401:
    case 403:
    case 409:
        return EXIT_REFUSED;
    case 400:
    case 413:
    case 415:
    case 422:
        return EXIT_REJECTED;
    case 429:
    case 502:
    case 503:
    case 504:
        return EXIT_UNAVAILABLE;
    default:
        return EXIT_SERVER;
    }
}

int report_failure(const opts_t *o, const char *what, const reply_t *r)
{
    const char *code = r->json ? json_string_value(json_object_get(r->json, "error")) : NULL;
    const char *message = r->json ? json_string_value(json_object_get(r->json, "message")) : NULL;
    if (message == NULL && r->json)
        message = json_string_value(json_object_get(r->json, "reason"));
    fprintf(stderr, "keelctl: %s: HTTP %ld%s%s%s%s\n", what, r->status, code ? " " : "",
            code ? code : "", message ? ": " : "", message ? message : "");
    if (o->json) {
        if (r->json != NULL)
            print_json(r->json);
        else
            printf("{\"error\": \"http_%ld\"}\n", r->status);
    }
    return exit_for_status(r->status);
}
