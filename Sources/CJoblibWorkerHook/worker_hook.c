#define _GNU_SOURCE
#include "CJoblibWorkerHook.h"
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

// Defined by JoblibProcesses when it is linked in; weak so that the hook is inert otherwise.
extern void joblib_worker_entry(void) __attribute__((weak));
// Only its address is taken, to find out where the Swift runtime lives.
extern void swift_retain(void) __attribute__((weak));

static int hook_fired = 0;
static int worker_mode_entered = 0;

// The hook is safe only when the Swift runtime is a shared library: its initialisers (and
// Foundation's, and Dispatch's) then ran before this executable's constructors. With
// --static-swift-stdlib they run after it, so the hook stands aside and Joblib.workerMain()
// in main takes over (the environment variable stays set for it).
static int swift_runtime_is_shared(void) {
    Dl_info info;
    if (swift_retain == NULL || dladdr((void *)swift_retain, &info) == 0 || info.dli_fname == NULL) return 0;
    return strstr(info.dli_fname, "libswiftCore") != NULL;
}

// A process started as a worker whose main does not call Joblib.workerMain() would run the
// user's program instead, and start workers of its own: a fork bomb. Unless worker mode is
// entered within this time, the process leaves with JOBLIB_WORKER_NOT_ENTERED_STATUS, which
// the parent turns into the advice to call Joblib.workerMain().
static void *worker_mode_deadline(void *unused) {
    (void)unused;
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_nsec += 800L * 1000 * 1000;
    if (deadline.tv_nsec >= 1000L * 1000 * 1000) {
        deadline.tv_sec += 1;
        deadline.tv_nsec -= 1000L * 1000 * 1000;
    }
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, NULL) == EINTR) {}
    if (!__atomic_load_n(&worker_mode_entered, __ATOMIC_SEQ_CST)) {
        static const char message[] =
            "joblib: this process was started as a worker process but its main did not call "
            "Joblib.workerMain() first; it stops instead of running the program\n";
        ssize_t ignored = write(2, message, sizeof message - 1);
        (void)ignored;
        _exit(JOBLIB_WORKER_NOT_ENTERED_STATUS);
    }
    return NULL;
}

static void start_worker_mode_deadline(void) {
    pthread_t thread;
    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attributes, 64 * 1024);
    pthread_create(&thread, &attributes, worker_mode_deadline, NULL);
    pthread_attr_destroy(&attributes);
}

// Runs after this image's type metadata is registered (swiftrt.o's constructor comes first).
__attribute__((constructor)) static void joblib_worker_hook(void) {
    const char *mode = getenv("JOBLIB_WORKER");
    if (mode == NULL || strcmp(mode, "ctor") != 0 || joblib_worker_entry == NULL) return;
    // JOBLIB_WORKER_HOOK_STANDS_ASIDE=1 lets tests play a statically linked runtime.
    const char *standAside = getenv("JOBLIB_WORKER_HOOK_STANDS_ASIDE");
    if (!swift_runtime_is_shared() || (standAside != NULL && strcmp(standAside, "1") == 0)) {
        start_worker_mode_deadline();
        return;
    }
    hook_fired = 1;
    unsetenv("JOBLIB_WORKER");  // processes the task starts must not become workers too
    joblib_worker_mode_did_enter();
    joblib_worker_entry();      // never returns
}

int joblib_worker_hook_fired(void) { return hook_fired; }

void joblib_worker_mode_did_enter(void) { __atomic_store_n(&worker_mode_entered, 1, __ATOMIC_SEQ_CST); }
