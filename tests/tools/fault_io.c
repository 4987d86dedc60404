/*
 * fault_io.so — an LD_PRELOAD shim that makes I/O fail on demand, to test
 * what keel does when the disk misbehaves (EIO, a failed meta-page write
 * that leaves LMDB in MDB_PANIC).
 *
 * KEEL_FAULT_FILE names a control file. While it exists, its first word
 * selects the fault:
 *   fdatasync  every fdatasync() fails with EIO
 *   meta       every pwrite() of fewer than 512 bytes (LMDB's meta-page
 *              write) fails with EIO
 *   nfs        statfs() reports every filesystem as NFS
 * Delete the file and I/O works again.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <unistd.h>

typedef enum { FAULT_NONE, FAULT_FDATASYNC, FAULT_META, FAULT_NFS } fault_t;

static fault_t current_fault(void)
{
    const char *path = getenv("KEEL_FAULT_FILE");
    if (path == NULL)
        return FAULT_NONE;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return FAULT_NONE;
    char word[32] = "";
    ssize_t n = read(fd, word, sizeof word - 1);
    close(fd);
    if (n <= 0)
        return FAULT_NONE;
    if (strncmp(word, "fdatasync", 9) == 0)
        return FAULT_FDATASYNC;
    if (strncmp(word, "meta", 4) == 0)
        return FAULT_META;
    if (strncmp(word, "nfs", 3) == 0)
        return FAULT_NFS;
    return FAULT_NONE;
}

int fdatasync(int fd)
{
    static int (*real)(int);
    if (real == NULL)
        real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    if (current_fault() == FAULT_FDATASYNC) {
        errno = EIO;
        return -1;
    }
    return real(fd);
}

ssize_t pwrite64(int fd, const void *buf, size_t count, off_t offset)
{
    static ssize_t (*real)(int, const void *, size_t, off_t);
    if (real == NULL)
        real = (ssize_t(*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite64");
    if (count < 512 && current_fault() == FAULT_META) {
        errno = EIO;
        return -1;
    }
    return real(fd, buf, count, offset);
}

ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset)
{
    return pwrite64(fd, buf, count, offset);
}

int statfs(const char *path, struct statfs *buf)
{
    static int (*real)(const char *, struct statfs *);
    if (real == NULL)
        real = (int (*)(const char *, struct statfs *))dlsym(RTLD_NEXT, "statfs");
    int rc = real(path, buf);
    if (rc == 0 && current_fault() == FAULT_NFS)
        buf->f_type = 0x6969; /* NFS_SUPER_MAGIC */
    return rc;
}
