#define _GNU_SOURCE
#include "CJoblibSystemFiles.h"
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/vfs.h>
#include <unistd.h>

int joblib_open_nonblocking(const char *path, int flags, unsigned int mode) {
    return open(path, flags | O_NONBLOCK | O_CLOEXEC | O_NOCTTY, (mode_t)mode);
}

int joblib_openat_nonblocking(int directory, const char *path, int flags) {
    return openat(directory, path, flags | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
}

int64_t joblib_fstatfs_type(int fd) {
    struct statfs info;
    if (fstatfs(fd, &info) != 0) return -1;
    return (int64_t)(uint32_t)info.f_type;
}

int joblib_ofd_write_lock(int fd, int wait, int64_t offset) {
    struct flock lock;
    memset(&lock, 0, sizeof lock);
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;
    lock.l_start = (off_t)offset;
    lock.l_len = 1;
    return fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &lock);
}

int joblib_ofd_unlock(int fd, int64_t offset) {
    struct flock lock;
    memset(&lock, 0, sizeof lock);
    lock.l_type = F_UNLCK;
    lock.l_whence = SEEK_SET;
    lock.l_start = (off_t)offset;
    lock.l_len = 1;
    return fcntl(fd, F_OFD_SETLK, &lock);
}

int joblib_inotify_init(void) { return inotify_init1(IN_NONBLOCK | IN_CLOEXEC); }

int joblib_inotify_watch_release(int inotify, const char *path) {
    return inotify_add_watch(inotify, path, IN_CLOSE_WRITE | IN_CLOSE_NOWRITE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF);
}

int joblib_eventfd(void) { return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); }

int joblib_set_address_space_limit(uint64_t bytes) {
    struct rlimit limit = {.rlim_cur = (rlim_t)bytes, .rlim_max = (rlim_t)bytes};
    return setrlimit(RLIMIT_AS, &limit);
}

uint64_t joblib_address_space_limit(void) {
    uint64_t result = UINT64_MAX;
    struct rlimit limit;
    if (getrlimit(RLIMIT_AS, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < result) result = limit.rlim_cur;
    if (getrlimit(RLIMIT_DATA, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < result) result = limit.rlim_cur;
    return result;
}
