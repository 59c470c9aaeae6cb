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

/// socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC): a channel whose writes to a dead peer fail
/// with EPIPE instead of raising SIGPIPE (with joblib_send_nosignal).
int joblib_socketpair_cloexec(int fds[_Nonnull 2]);

/// send(fd, buffer, count, MSG_NOSIGNAL): -1 and EPIPE, never SIGPIPE, when the peer is gone.
long joblib_send_nosignal(int fd, const void *_Nonnull buffer, size_t count);

/// The most descriptors one joblib_send_descriptors message carries.
#define JOBLIB_MAX_PASSED_DESCRIPTORS 32

/// Sends `count` (1...JOBLIB_MAX_PASSED_DESCRIPTORS) descriptors over a Unix socket with
/// SCM_RIGHTS, as one byte (the count) with MSG_NOSIGNAL. Returns 1, or -1 and errno.
long joblib_send_descriptors(int socket, const int *_Nonnull fds, int count);

/// Receives one joblib_send_descriptors message without blocking (MSG_DONTWAIT), the
/// descriptors close-on-exec, into `fds` (`*received` of them). Returns 1, 0 at end of file,
/// or -1 and errno (EAGAIN: none waiting; EMFILE: the descriptors did not fit, none are kept).
long joblib_receive_descriptors(int socket, int *_Nonnull fds, int capacity, int *_Nonnull received);

/// Sets or clears FD_CLOEXEC on `fd`.
int joblib_set_cloexec(int fd, int on);

/// Sets O_NONBLOCK on `fd`'s open file description.
int joblib_set_nonblocking(int fd);

/// Blocks SIGPIPE in the calling thread only (a write to a broken pipe then fails with EPIPE).
int joblib_block_sigpipe_in_thread(void);

/// write(2) that fails with EPIPE instead of raising SIGPIPE, for pipes (where MSG_NOSIGNAL does
/// not exist): SIGPIPE is blocked in this thread around the write and a signal the write raised is
/// consumed. The process's signal disposition is never touched.
long joblib_write_nosigpipe(int fd, const void *_Nonnull buffer, size_t count);

/// poll(2) for readability on one or two descriptors (`second` < 0: one); sets the ready flags.
int joblib_poll2(int first, int second, int timeoutMilliseconds, int *_Nonnull firstReady, int *_Nonnull secondReady);

/// fflush(stdout) when its buffer holds anything (cheap when it does not).
int joblib_flush_stdout_if_pending(void);

/// process_vm_readv of one range: copies `count` bytes at `remote` in process `pid` into `local`.
/// Returns the bytes copied (fewer: the remote range ends in unmapped memory), or -1 and errno.
long joblib_process_vm_read(int pid, void *_Nonnull local, const void *_Nonnull remote, size_t count);

/// prctl(PR_GET_DUMPABLE): 1 when other processes of the same user may read this one's memory.
int joblib_is_dumpable(void);

// Non-blocking opens, file locks, inotify, resource limits.
#include "CJoblibSystemFiles.h"

#endif
