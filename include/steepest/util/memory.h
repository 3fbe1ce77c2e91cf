// Allocator tuning for training loops.
#pragma once

namespace steepest {

// Tells glibc malloc to keep freed memory (no mmap for blocks < 256 MiB, no
// trimming below 1 GiB): a training step frees and re-allocates the same
// activations every step, and first-touch page faults on freshly mapped blocks
// cost ~10% of a step on the reference VM (docs/BENCHMARKS.md). Process-wide;
// a no-op (returns false) without glibc.
bool keep_freed_memory();

}  // namespace steepest
