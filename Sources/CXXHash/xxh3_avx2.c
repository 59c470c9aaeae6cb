// The AVX2 build, used only when the CPU reports AVX2. The target attribute avoids unsafeFlags.
#if defined(__x86_64__)
#include <immintrin.h>
#pragma clang attribute push(__attribute__((target("avx2"))), apply_to = function)
#define XXH_VECTOR XXH_AVX2
#define JOBLIB_XXH_PREFIX joblib_xxh_avx2_
#include "xxh3_impl.h"
#pragma clang attribute pop
#endif
