// Internal: a function of a shared library that libtorch already loaded
// (OpenBLAS, oneDNN), found at run time so that builds against other
// libraries still link and simply go without it.
#pragma once

#include <dlfcn.h>

#include <initializer_list>

namespace steepest::detail {

// `name` from the process's global scope (a C++ program linking libtorch),
// else from the first of `libraries` that is already loaded (Python loads
// libtorch's dependencies locally); nullptr when neither has it. Never loads
// a library itself.
template <typename Fn>
Fn loaded_symbol(const char* name, std::initializer_list<const char*> libraries = {}) {
  if (void* f = dlsym(RTLD_DEFAULT, name)) return reinterpret_cast<Fn>(f);
  for (const char* lib : libraries)
    if (void* h = dlopen(lib, RTLD_NOW | RTLD_NOLOAD))
      if (void* f = dlsym(h, name)) return reinterpret_cast<Fn>(f);
  return nullptr;
}

}  // namespace steepest::detail
