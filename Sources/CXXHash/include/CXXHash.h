// XXH3-128 for swift-joblib: one-shot and streaming, with the fastest vector unit chosen once at
// run time. The implementation is libxxhash-dev's header compiled inline (see the .c files).
#ifndef JOBLIB_CXXHASH_H
#define JOBLIB_CXXHASH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct joblib_xxh128 {
    uint64_t low;
    uint64_t high;
} joblib_xxh128;

/// Opaque streaming state.
typedef struct joblib_xxh3_stream joblib_xxh3_stream;

joblib_xxh128 joblib_xxh3_128(const void *_Nullable data, size_t length, uint64_t seed);
uint64_t joblib_xxh3_64(const void *_Nullable data, size_t length, uint64_t seed);

joblib_xxh3_stream *_Nullable joblib_xxh3_stream_create(uint64_t seed);
void joblib_xxh3_stream_update(joblib_xxh3_stream *_Nonnull stream, const void *_Nullable data, size_t length);
joblib_xxh128 joblib_xxh3_stream_digest(const joblib_xxh3_stream *_Nonnull stream);
void joblib_xxh3_stream_free(joblib_xxh3_stream *_Nullable stream);

#ifdef __cplusplus
}
#endif
#endif
