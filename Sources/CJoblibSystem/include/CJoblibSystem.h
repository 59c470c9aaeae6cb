// The few Linux calls that Swift's Glibc module does not import (GNU extensions, macros).
// Only JoblibSystem uses this target.
#ifndef JOBLIB_CSYSTEM_H
#define JOBLIB_CSYSTEM_H

#include <stddef.h>

/// memfd_create(name, MFD_CLOEXEC [| MFD_ALLOW_SEALING]); -1 and errno on failure.
int joblib_memfd_create(const char *_Nonnull name, int allowSealing);

/// Seals a memfd against growing, shrinking and writing; -1 and errno on failure.
int joblib_memfd_seal_readonly(int fd);

/// The number of CPUs in this thread's affinity mask, or -1 and errno.
int joblib_affinity_cpu_count(void);

/// Asks the kernel to send `signal` to this process when its parent thread exits.
int joblib_set_parent_death_signal(int signal);

/// pipe2(fds, O_CLOEXEC).
int joblib_pipe_cloexec(int fds[_Nonnull 2]);

/// Adds "close every descriptor from `lowest` up" to posix_spawn file actions (glibc ≥ 2.34).
int joblib_spawn_add_closefrom(void *_Nonnull actions, int lowest);

#include <stdint.h>

/// sync_file_range(fd, offset, count, flags) (flags: 1 wait before, 2 write, 4 wait after).
int joblib_sync_file_range(int fd, int64_t offset, int64_t count, unsigned int flags);

/// pidfd_open(pid, 0): a descriptor that names exactly this process, even after its pid is reused.
int joblib_pidfd_open(int pid);

/// pidfd_send_signal(fd, signal, NULL, 0).
int joblib_pidfd_send_signal(int pidfd, int signal);

/// Sequentially consistent 64-bit load and store, for words shared between processes.
uint64_t joblib_atomic_load_u64(const uint64_t *_Nonnull address);
void joblib_atomic_store_u64(uint64_t *_Nonnull address, uint64_t value);

// Non-blocking opens, file locks, inotify, resource limits.
#include "CJoblibSystemFiles.h"

#endif
