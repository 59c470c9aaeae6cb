// The worker hook: a process started with JOBLIB_WORKER=ctor becomes a worker before `main`.
#ifndef JOBLIB_WORKER_HOOK_H
#define JOBLIB_WORKER_HOOK_H

/// The exit status of a process started as a worker that ran the program instead of entering
/// worker mode (a static build whose main does not call Joblib.workerMain() first).
#define JOBLIB_WORKER_NOT_ENTERED_STATUS 86

/// Set by the process backend (a Swift `@_cdecl` entry); until it exists the hook is inert.
/// Returns 1 when the hook found a worker request and consumed its environment variable.
int joblib_worker_hook_fired(void);

/// Tells the hook's deadline (started when the hook had to stand aside) that worker mode began.
void joblib_worker_mode_did_enter(void);

#endif
