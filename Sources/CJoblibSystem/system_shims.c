#define _GNU_SOURCE
#include "CJoblibSystem.h"
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <spawn.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <signal.h>

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

int joblib_set_parent_death_signal(int signal) { return prctl(PR_SET_PDEATHSIG, signal, 0, 0, 0); }

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
