#include "steepest/util/memory.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace steepest {

bool keep_freed_memory() {
#if defined(__GLIBC__)
  return mallopt(M_MMAP_THRESHOLD, 256 << 20) == 1 && mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1;
#else
  return false;
#endif
}

}  // namespace steepest
