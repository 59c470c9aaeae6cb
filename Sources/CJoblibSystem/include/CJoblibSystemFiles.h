// Linux file calls for loading without blocking and for cross-process locks (JoblibSystem's
// RegularFile.swift, FileLock.swift, ResourceLimits.swift). Only JoblibSystem uses this target.
#ifndef JOBLIB_CSYSTEM_FILES_H
#define JOBLIB_CSYSTEM_FILES_H

#include <stdint.h>

/// open(path, flags | O_NONBLOCK | O_CLOEXEC | O_NOCTTY, mode): opening a FIFO or a device never
/// waits for a peer. -1 and errno on failure.
int joblib_open_nonblocking(const char *_Nonnull path, int flags, unsigned int mode);

/// The same relative to a directory descriptor (openat).
int joblib_openat_nonblocking(int directory, const char *_Nonnull path, int flags);

/// The file system type (statfs f_type) of an open file, or -1 and errno.
int64_t joblib_fstatfs_type(int fd);

/// An open-file-description lock (F_OFD_SETLK, F_WRLCK) on the byte at `offset`: owned by this
/// open file, released when its last descriptor closes, also when the process dies. `wait`
/// blocks. 0 when taken; -1 and errno (EAGAIN or EACCES when another holder has it).
int joblib_ofd_write_lock(int fd, int wait, int64_t offset);

/// Releases the lock of joblib_ofd_write_lock on the byte at `offset`.
int joblib_ofd_unlock(int fd, int64_t offset);

/// inotify_init1(IN_NONBLOCK | IN_CLOEXEC).
int joblib_inotify_init(void);

/// Watches `path` for what ends a lock holder's use of it: a close, an attribute change (unlink),
/// deletion or a move. Returns the watch descriptor or -1 and errno.
int joblib_inotify_watch_release(int inotify, const char *_Nonnull path);

/// eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK).
int joblib_eventfd(void);

/// setrlimit(RLIMIT_AS, bytes) for soft and hard limits; -1 and errno.
int joblib_set_address_space_limit(uint64_t bytes);

/// The soft RLIMIT_AS and RLIMIT_DATA (the smaller one), or UINT64_MAX when unlimited.
uint64_t joblib_address_space_limit(void);

#endif
