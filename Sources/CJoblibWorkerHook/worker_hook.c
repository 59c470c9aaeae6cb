#include "CJoblibWorkerHook.h"
#include <stdlib.h>
#include <string.h>

// Defined by JoblibProcesses when it is linked in; weak so that the hook is inert otherwise.
extern void joblib_worker_entry(void) __attribute__((weak));

static int hook_fired = 0;

// Runs after the shared Swift runtime and Foundation have initialised (they are shared objects
// on Linux) and after this image's type metadata is registered (swiftrt.o comes first). With a
// static stdlib that is not true; such programs call Joblib.workerMain() from main instead.
__attribute__((constructor)) static void joblib_worker_hook(void) {
    const char *mode = getenv("JOBLIB_WORKER");
    if (mode == NULL || strcmp(mode, "ctor") != 0 || joblib_worker_entry == NULL) return;
    hook_fired = 1;
    unsetenv("JOBLIB_WORKER");  // processes the task starts must not become workers too
    joblib_worker_entry();      // never returns
}

int joblib_worker_hook_fired(void) { return hook_fired; }
