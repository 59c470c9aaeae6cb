// The portable build: SSE2 on x86_64 (always present), NEON on arm64, scalar elsewhere.
#define JOBLIB_XXH_PREFIX joblib_xxh_default_
#include "xxh3_impl.h"
