#define _GNU_SOURCE
#include "CJoblibWorkerHook.h"
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

// Defined by JoblibProcesses when it is linked in; weak so that the hook is inert otherwise.
extern void joblib_worker_entry(void) __attribute__((weak));
// Only its address is taken, to find out where the Swift runtime lives.
extern void swift_retain(void) __attribute__((weak));

static int hook_fired = 0;

// The hook is safe only when the Swift runtime is a shared library: its initialisers (and
// Foundation's, and Dispatch's) then ran before this executable's constructors. With
// --static-swift-stdlib they run after it, so the hook stands aside and Joblib.workerMain()
// in main takes over (the environment variable stays set for it).
static int swift_runtime_is_shared(void) {
    Dl_info info;
    if (swift_retain == NULL || dladdr((void *)swift_retain, &info) == 0 || info.dli_fname == NULL) return 0;
    return strstr(info.dli_fname, "libswiftCore") != NULL;
}

// Runs after this image's type metadata is registered (swiftrt.o's constructor comes first).
__attribute__((constructor)) static void joblib_worker_hook(void) {
    const char *mode = getenv("JOBLIB_WORKER");
    if (mode == NULL || strcmp(mode, "ctor") != 0 || joblib_worker_entry == NULL) return;
    if (!swift_runtime_is_shared()) return;
    hook_fired = 1;
    unsetenv("JOBLIB_WORKER");  // processes the task starts must not become workers too
    joblib_worker_entry();      // never returns
}

int joblib_worker_hook_fired(void) { return hook_fired; }
