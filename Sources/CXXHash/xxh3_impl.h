// Included by one .c file per vector unit; JOBLIB_XXH_PREFIX names its entry points.
#define XXH_INLINE_ALL
#include <xxhash.h>
#include <stdlib.h>
#include "CXXHash.h"

#define JOBLIB_CAT2(a, b) a##b
#define JOBLIB_CAT(a, b) JOBLIB_CAT2(a, b)
#define JOBLIB_FN(name) JOBLIB_CAT(JOBLIB_XXH_PREFIX, name)

joblib_xxh128 JOBLIB_FN(hash128)(const void *data, size_t length, uint64_t seed) {
    XXH128_hash_t h = XXH3_128bits_withSeed(data, length, seed);
    joblib_xxh128 r = { h.low64, h.high64 };
    return r;
}

uint64_t JOBLIB_FN(hash64)(const void *data, size_t length, uint64_t seed) {
    return XXH3_64bits_withSeed(data, length, seed);
}

void *JOBLIB_FN(create)(uint64_t seed) {
    XXH3_state_t *s = XXH3_createState();
    if (s == NULL) return NULL;
    if (XXH3_128bits_reset_withSeed(s, seed) != XXH_OK) { XXH3_freeState(s); return NULL; }
    return s;
}

void JOBLIB_FN(update)(void *s, const void *data, size_t length) {
    (void)XXH3_128bits_update((XXH3_state_t *)s, data, length);
}

joblib_xxh128 JOBLIB_FN(digest)(const void *s) {
    XXH128_hash_t h = XXH3_128bits_digest((const XXH3_state_t *)s);
    joblib_xxh128 r = { h.low64, h.high64 };
    return r;
}

void JOBLIB_FN(free)(void *s) { XXH3_freeState((XXH3_state_t *)s); }
