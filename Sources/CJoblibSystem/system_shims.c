#define _GNU_SOURCE
#include "CJoblibSystem.h"
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <spawn.h>
#include <unistd.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <signal.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <sys/socket.h>
#include <time.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/uio.h>

int joblib_memfd_create(const char *name, int allowSealing) {
    unsigned int flags = MFD_CLOEXEC;
    if (allowSealing) flags |= MFD_ALLOW_SEALING;
    return memfd_create(name, flags);
}

int joblib_memfd_seal_readonly(int fd) {
    return fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
}

int joblib_affinity_cpu_count(void) {
    // Masks larger than the default cpu_set_t exist on machines with > 1024 CPUs.
    for (int ncpus = 1024; ncpus <= 1 << 16; ncpus *= 2) {
        cpu_set_t *set = CPU_ALLOC(ncpus);
        if (set == NULL) return -1;
        size_t size = CPU_ALLOC_SIZE(ncpus);
        CPU_ZERO_S(size, set);
        if (sched_getaffinity(0, size, set) == 0) {
            int count = CPU_COUNT_S(size, set);
            CPU_FREE(set);
            return count;
        }
        int saved = errno;
        CPU_FREE(set);
        if (saved != EINVAL) { errno = saved; return -1; }
    }
    errno = EINVAL;
    return -1;
}

int joblib_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

int joblib_spawn_add_closefrom(void *actions, int lowest) {
    return posix_spawn_file_actions_addclosefrom_np((posix_spawn_file_actions_t *)actions, lowest);
}

uint64_t joblib_atomic_load_u64(const uint64_t *address) { return __atomic_load_n(address, __ATOMIC_SEQ_CST); }

void joblib_atomic_store_u64(uint64_t *address, uint64_t value) { __atomic_store_n(address, value, __ATOMIC_SEQ_CST); }

int joblib_pidfd_open(int pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

int joblib_pidfd_send_signal(int pidfd, int signal) { return (int)syscall(SYS_pidfd_send_signal, pidfd, signal, NULL, 0); }

int joblib_sync_file_range(int fd, int64_t offset, int64_t count, unsigned int flags) {
    return sync_file_range(fd, (off64_t)offset, (off64_t)count, flags);
}

int joblib_socketpair_cloexec(int fds[2]) { return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds); }

long joblib_send_nosignal(int fd, const void *buffer, size_t count) {
    return (long)send(fd, buffer, count, MSG_NOSIGNAL);
}

int joblib_set_cloexec(int fd, int on) {
    int flags = fcntl(fd, F_GETFD);
    if (flags < 0) return -1;
    return fcntl(fd, F_SETFD, on ? (flags | FD_CLOEXEC) : (flags & ~FD_CLOEXEC));
}

int joblib_set_nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0) return -1;
    return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

int joblib_block_sigpipe_in_thread(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    return pthread_sigmask(SIG_BLOCK, &set, NULL);
}

long joblib_write_nosigpipe(int fd, const void *buffer, size_t count) {
    sigset_t pipe_set, old, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    // A SIGPIPE already pending for another reason is not ours to consume.
    sigpending(&pending);
    int was_pending = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    long result = (long)write(fd, buffer, count);
    int saved = errno;
    if (result < 0 && saved == EPIPE && !was_pending) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR) {}
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = saved;
    return result;
}

int joblib_poll2(int first, int second, int timeoutMilliseconds, int *firstReady, int *secondReady) {
    struct pollfd fds[2] = {{first, POLLIN, 0}, {second, POLLIN, 0}};
    int count = second >= 0 ? 2 : 1;
    int result = poll(fds, count, timeoutMilliseconds);
    *firstReady = result > 0 && fds[0].revents != 0;
    *secondReady = result > 0 && count == 2 && fds[1].revents != 0;
    return result;
}

int joblib_flush_stdout_if_pending(void) {
    // __fpending reads the buffer's fill without taking the stream's lock: a worker calls this
    // after every task, and most tasks print nothing.
    if (__fpending(stdout) == 0) return 0;
    return fflush(stdout);
}

long joblib_send_descriptors(int socket, const int *fds, int count) {
    if (count < 1 || count > JOBLIB_MAX_PASSED_DESCRIPTORS) { errno = EINVAL; return -1; }
    char byte = (char)count;
    struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
    union {
        char buffer[CMSG_SPACE(sizeof(int) * JOBLIB_MAX_PASSED_DESCRIPTORS)];
        struct cmsghdr align;
    } control;
    memset(&control, 0, sizeof control);
    struct msghdr message = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buffer,
                              .msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)count) };
    struct cmsghdr *header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)count);
    memcpy(CMSG_DATA(header), fds, sizeof(int) * (size_t)count);
    return (long)sendmsg(socket, &message, MSG_NOSIGNAL);
}

long joblib_receive_descriptors(int socket, int *fds, int capacity, int *received) {
    *received = 0;
    char byte = 0;
    struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
    union {
        char buffer[CMSG_SPACE(sizeof(int) * JOBLIB_MAX_PASSED_DESCRIPTORS)];
        struct cmsghdr align;
    } control;
    struct msghdr message = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buffer,
                              .msg_controllen = sizeof control.buffer };
    long count = (long)recvmsg(socket, &message, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (count <= 0) return count;
    int taken = 0;
    for (struct cmsghdr *header = CMSG_FIRSTHDR(&message); header != NULL; header = CMSG_NXTHDR(&message, header)) {
        if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) continue;
        int n = (int)((header->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        int passed[JOBLIB_MAX_PASSED_DESCRIPTORS];
        if (n > JOBLIB_MAX_PASSED_DESCRIPTORS) n = JOBLIB_MAX_PASSED_DESCRIPTORS;
        memcpy(passed, CMSG_DATA(header), sizeof(int) * (size_t)n);
        for (int i = 0; i < n; i++) {
            if (taken < capacity) fds[taken++] = passed[i]; else close(passed[i]);
        }
    }
    // Descriptors the kernel could not pass (RLIMIT_NOFILE) are lost: the message is unusable.
    if ((message.msg_flags & MSG_CTRUNC) || taken != (unsigned char)byte) {
        for (int i = 0; i < taken; i++) close(fds[i]);
        errno = (message.msg_flags & MSG_CTRUNC) ? EMFILE : EPROTO;
        return -1;
    }
    *received = taken;
    return count;
}

long joblib_process_vm_read(int pid, void *local, const void *remote, size_t count) {
    struct iovec to = { .iov_base = local, .iov_len = count };
    struct iovec from = { .iov_base = (void *)remote, .iov_len = count };
    return (long)process_vm_readv((pid_t)pid, &to, 1, &from, 1, 0);
}

int joblib_is_dumpable(void) {
    return prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
}
