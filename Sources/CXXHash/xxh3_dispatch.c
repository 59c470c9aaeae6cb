#include "CXXHash.h"
#include <stdlib.h>

#define DECLARE_IMPL(p)                                                              \
    joblib_xxh128 p##hash128(const void *, size_t, uint64_t);                        \
    uint64_t p##hash64(const void *, size_t, uint64_t);                              \
    void *p##create(uint64_t);                                                       \
    void p##update(void *, const void *, size_t);                                    \
    joblib_xxh128 p##digest(const void *);                                           \
    void p##free(void *);

DECLARE_IMPL(joblib_xxh_default_)
#if defined(__x86_64__)
DECLARE_IMPL(joblib_xxh_avx2_)
#endif

// A stream remembers which implementation created it, so its state is never read by another.
struct joblib_xxh3_stream {
    void *state;
    int avx2;
};

static int use_avx2(void) {
#if defined(__x86_64__)
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") ? 1 : 0;
    }
    return cached;
#else
    return 0;
#endif
}

joblib_xxh128 joblib_xxh3_128(const void *data, size_t length, uint64_t seed) {
#if defined(__x86_64__)
    if (use_avx2()) return joblib_xxh_avx2_hash128(data, length, seed);
#endif
    return joblib_xxh_default_hash128(data, length, seed);
}

uint64_t joblib_xxh3_64(const void *data, size_t length, uint64_t seed) {
#if defined(__x86_64__)
    if (use_avx2()) return joblib_xxh_avx2_hash64(data, length, seed);
#endif
    return joblib_xxh_default_hash64(data, length, seed);
}

joblib_xxh3_stream *joblib_xxh3_stream_create(uint64_t seed) {
    joblib_xxh3_stream *s = malloc(sizeof *s);
    if (s == NULL) return NULL;
    s->avx2 = use_avx2();
#if defined(__x86_64__)
    s->state = s->avx2 ? joblib_xxh_avx2_create(seed) : joblib_xxh_default_create(seed);
#else
    s->state = joblib_xxh_default_create(seed);
#endif
    if (s->state == NULL) { free(s); return NULL; }
    return s;
}

void joblib_xxh3_stream_update(joblib_xxh3_stream *s, const void *data, size_t length) {
    if (length == 0) return;
#if defined(__x86_64__)
    if (s->avx2) { joblib_xxh_avx2_update(s->state, data, length); return; }
#endif
    joblib_xxh_default_update(s->state, data, length);
}

joblib_xxh128 joblib_xxh3_stream_digest(const joblib_xxh3_stream *s) {
#if defined(__x86_64__)
    if (s->avx2) return joblib_xxh_avx2_digest(s->state);
#endif
    return joblib_xxh_default_digest(s->state);
}

void joblib_xxh3_stream_free(joblib_xxh3_stream *s) {
    if (s == NULL) return;
#if defined(__x86_64__)
    if (s->avx2) joblib_xxh_avx2_free(s->state); else joblib_xxh_default_free(s->state);
#else
    joblib_xxh_default_free(s->state);
#endif
    free(s);
}

