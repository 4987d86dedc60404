/*
 * dynalite.h — a real dynalite (npm, tests/node; KEEL_DYNALITE) for the
 * DynamoDB tests: started on a random 127.0.0.1 port, ready once it
 * answers a ListTables, stopped by its PID.
 */
#ifndef KEEL_TEST_DYNALITE_H
#define KEEL_TEST_DYNALITE_H

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct dynalite {
    pid_t pid; /* -1: not running */
    int port;
    char endpoint[64]; /* http://127.0.0.1:PORT */
} dynalite_t;

/* A port nothing listens on at the moment, or -1. */
static inline int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &al) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return ntohs(a.sin_port);
}

static inline uint64_t dynalite_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

static inline void dynalite_pause_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

/* dynalite answers an (unsigned-checked) ListTables: it is up. */
static inline bool dynalite_answers(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                            .sin_port = htons((uint16_t)port)};
    if (fd < 0)
        return false;
    struct timeval tv = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return false;
    }
    char req[600];
    const char *body = "{}";
    int n = snprintf(req, sizeof req,
                     "POST / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                     "Content-Type: application/x-amz-json-1.0\r\n"
                     "X-Amz-Target: DynamoDB_20120810.ListTables\r\n"
                     "X-Amz-Date: 20150830T123600Z\r\n"
                     "Authorization: AWS4-HMAC-SHA256 "
                     "Credential=AKID/20150830/us-east-1/dynamodb/aws4_request, "
                     "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=00\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                     port, strlen(body), body);
    bool ok = write(fd, req, (size_t)n) == n;
    char resp[64] = {0};
    ok = ok && read(fd, resp, sizeof resp - 1) > 12 && strncmp(resp, "HTTP/1.1 ", 9) == 0;
    close(fd);
    return ok;
}

/* Stops it by its PID: SIGTERM, SIGKILL after 5 s. Idempotent. */
static inline void dynalite_stop(dynalite_t *d)
{
    if (d->pid <= 0)
        return;
    kill(d->pid, SIGTERM);
    uint64_t deadline = dynalite_now_ms() + 5000;
    while (waitpid(d->pid, NULL, WNOHANG) == 0) {
        if (dynalite_now_ms() > deadline) {
            kill(d->pid, SIGKILL);
            waitpid(d->pid, NULL, 0);
            break;
        }
        dynalite_pause_ms(20);
    }
    d->pid = -1;
}

/* Starts dynalite and waits (20 s at most: node is slow to start) until
 * it answers. 0: running; 1: not installed or node cannot run it (skip
 * the tests); -1: it failed (a message was printed). */
static inline int dynalite_start(dynalite_t *d)
{
    d->pid = -1;
    if (access(KEEL_DYNALITE, X_OK) != 0) {
        printf("dynalite not installed (%s)\n", KEEL_DYNALITE);
        return 1;
    }
    if ((d->port = free_port()) <= 0)
        return -1;
    snprintf(d->endpoint, sizeof d->endpoint, "http://127.0.0.1:%d", d->port);
    char port[16];
    snprintf(port, sizeof port, "%d", d->port);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) {
            dup2(devnull, 1);
            dup2(devnull, 2);
        }
        execl(KEEL_DYNALITE, "dynalite", "--host", "127.0.0.1", "--port", port, "--createTableMs",
              "0", (char *)NULL);
        _exit(127);
    }
    d->pid = pid;
    uint64_t deadline = dynalite_now_ms() + 20000;
    while (dynalite_now_ms() < deadline) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            d->pid = -1;
            if (WIFEXITED(st) && WEXITSTATUS(st) == 127) {
                printf("dynalite could not run (node missing?)\n");
                return 1;
            }
            printf("dynalite exited at start\n");
            return -1;
        }
        if (dynalite_answers(d->port))
            return 0;
        dynalite_pause_ms(50);
    }
    printf("dynalite did not answer on port %d within 20 s\n", d->port);
    dynalite_stop(d);
    return -1;
}

#endif
