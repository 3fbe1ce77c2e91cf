// NumPy .npy files (format 1.0/2.0/3.0, little-endian float32/float64, C or
// Fortran order), so matrices move between steepest and Python without a converter.
#pragma once

#include <ATen/ATen.h>

#include <string>

namespace steepest {

// Reads an .npy file into a contiguous CPU tensor of its dtype and shape
// (a Fortran-ordered array is transposed into C order; 0-sized arrays are fine).
// Throws std::runtime_error naming the file, the offending value and a hint
// (missing, a directory, not .npy, corrupt header, unsupported dtype such as
// int64/bool/float16, truncated data, a shape larger than the file). Sizes are
// checked against the file size before anything is allocated.
at::Tensor read_npy(const std::string& path);

// Writes a float32/float64 tensor (any shape, any device) as format 1.0, C order.
// Written to a temporary file and renamed, so a failure never leaves half a file.
void write_npy(const std::string& path, const at::Tensor& tensor);

}  // namespace steepest
