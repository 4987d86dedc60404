/*
 * main.c — keeld: load the config, start the plugins, wait for a signal.
 *
 *   keeld -c FILE                 run until SIGTERM/SIGINT (SIGHUP reopens logs)
 *   keeld --check-config FILE     validate FILE and its plugins; exit 0 or 1
 *   keeld --describe-plugin NAME  print a module's config keys
 */
#include "kernel.h"
#include "loader.h"

#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { EXIT_CONFIG = 1, EXIT_USAGE = 2 };

static void usage(FILE *out)
{
    fprintf(out, "usage: keeld -c FILE              run keel with this config\n"
                 "       keeld --check-config FILE  validate a config and its plugins\n"
                 "       keeld --describe-plugin MODULE [--plugin-dir DIR]\n"
                 "                                  print a plugin's config keys\n"
                 "       keeld --version\n");
}

static void set_exe_dir(kernel_t *k)
{
    char path[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
    if (n <= 0)
        return;
    path[n] = '\0';
    kernel_set_exe_dir(k, dirname(path));
}

/* Loads and validates; prints every error. NULL when the config is bad. */
static kernel_t *configure(const char *path)
{
    kernel_t *k = kernel_new();
    if (k == NULL) {
        fprintf(stderr, "keeld: out of memory\n");
        return NULL;
    }
    set_exe_dir(k);
    cfg_errors_t errs;
    cfg_errors_init(&errs);
    cfg_doc_t *doc = cfg_doc_load_file(path, &errs);
    if (doc == NULL || kernel_configure(k, doc, &errs) != 0) {
        if (doc == NULL)
            cfg_doc_free(doc);
        cfg_errors_print(&errs, stderr);
        fprintf(stderr, "keeld: %s: %zu error(s); nothing was started\n", path, errs.count);
        cfg_errors_free(&errs);
        kernel_free(k);
        return NULL;
    }
    cfg_errors_free(&errs);
    return k;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* The config's own checks, then every plugin's (their init, in a scratch
 * data dir that is removed afterwards). */
static int check_config(const char *path)
{
    kernel_t *k = configure(path);
    if (k == NULL)
        return EXIT_CONFIG;
    const char *tmp = getenv("TMPDIR");
    char scratch[PATH_MAX];
    snprintf(scratch, sizeof scratch, "%s/keeld-check-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (mkdtemp(scratch) == NULL) {
        fprintf(stderr, "keeld: cannot create a scratch directory %s: %s\n", scratch,
                strerror(errno));
        kernel_free(k);
        return EXIT_CONFIG;
    }
    size_t instances = kernel_instance_count(k);
    int rc = kernel_check(k, scratch);
    bool clean = kernel_free(k);
    nftw(scratch, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (rc != 0) {
        fprintf(stderr,
                "keeld: %s: refused when the instances checked it (see above); nothing was "
                "started\n",
                path);
        return EXIT_CONFIG;
    }
    printf("%s: OK (%zu plugin instance(s))\n", path, instances);
    return clean ? 0 : EXIT_CONFIG;
}

static int describe_plugin(const char *name, const char *plugin_dir)
{
    kernel_t *k = kernel_new();
    if (k == NULL)
        return EXIT_CONFIG;
    set_exe_dir(k);
    char path[PATH_MAX + 256];
    char err[1024];
    module_t module;
    if (kernel_module_path(k, plugin_dir, name, path, sizeof path) != 0) {
        fprintf(stderr, "keeld: %s\n", path);
        kernel_free(k);
        return EXIT_CONFIG;
    }
    if (module_load(path, &module, err, sizeof err) != 0) {
        fprintf(stderr, "keeld: %s\n", err);
        kernel_free(k);
        return EXIT_CONFIG;
    }
    const keel_plugin_descriptor_t *d = &module.desc;
    printf("module:      %s\n", d->name);
    printf("file:        %s\n", module.path);
    printf("version:     %s\n", d->version ? d->version : "(unset)");
    printf("keel ABI:    %u.%u\n", d->abi_major, d->abi_minor);
    if (d->description)
        printf("description: %s\n", d->description);
    printf("config keys:\n");
    if (d->config_keys && d->config_keys[0].name)
        cfg_describe(stdout, d->config_keys, 2);
    else
        printf("  (none)\n");
    module_unload(&module);
    kernel_free(k);
    return 0;
}

static int run(const char *path)
{
    /* Signals are taken synchronously by this thread with sigwait(); every
     * thread the kernel creates inherits the blocked mask. */
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    kernel_t *k = configure(path);
    if (k == NULL)
        return EXIT_CONFIG;
    if (kernel_start(k) != 0) {
        logger_write(kernel_logger(k), KEEL_LOG_ERROR, "keel", "start-up failed; exiting");
        kernel_free(k);
        return EXIT_CONFIG;
    }
    for (;;) {
        int sig = 0;
        if (sigwait(&signals, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            if (kernel_reopen_logs(k) != 0)
                logger_write(kernel_logger(k), KEEL_LOG_ERROR, "keel",
                             "SIGHUP: cannot reopen the log file: %s", strerror(errno));
            else
                logger_write(kernel_logger(k), KEEL_LOG_INFO, "keel", "SIGHUP: log reopened");
            continue;
        }
        logger_write(kernel_logger(k), KEEL_LOG_INFO, "keel", "%s received",
                     sig == SIGTERM ? "SIGTERM" : "SIGINT");
        break;
    }
    int rc = kernel_stop(k);
    kernel_free(k);
    return rc == 0 ? 0 : EXIT_CONFIG;
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", required_argument, NULL, 'C'},
        {"describe-plugin", required_argument, NULL, 'D'},
        {"plugin-dir", required_argument, NULL, 'P'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL, *check = NULL, *describe = NULL, *plugin_dir = NULL;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config = optarg;
            break;
        case 'C':
            check = optarg;
            break;
        case 'D':
            describe = optarg;
            break;
        case 'P':
            plugin_dir = optarg;
            break;
        case 'V':
            printf("keeld %s (plugin ABI %d.%d)\n", KEEL_VERSION_STRING, KEEL_ABI_MAJOR,
                   KEEL_ABI_MINOR);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind != argc || (!config && !check && !describe)) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (check)
        return check_config(check);
    if (describe)
        return describe_plugin(describe, plugin_dir);
    return run(config);
}
