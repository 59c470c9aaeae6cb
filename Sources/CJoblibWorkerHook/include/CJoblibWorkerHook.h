// The worker hook: a process started with JOBLIB_WORKER=ctor becomes a worker before `main`.
#ifndef JOBLIB_WORKER_HOOK_H
#define JOBLIB_WORKER_HOOK_H

/// Set by the process backend (a Swift `@_cdecl` entry); until it exists the hook is inert.
/// Returns 1 when the hook found a worker request and consumed its environment variable.
int joblib_worker_hook_fired(void);

#endif
