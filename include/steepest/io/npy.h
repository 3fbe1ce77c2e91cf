// NumPy .npy files (format 1.0/2.0/3.0, little-endian float32/float64, C order),
// so matrices move between steepest and Python without a converter.
#pragma once

#include <ATen/ATen.h>

#include <string>

namespace steepest {

// Reads an .npy file into a contiguous CPU tensor of its dtype and shape.
// Throws std::runtime_error naming the file and what was wrong (missing,
// not .npy, Fortran order, unsupported dtype, truncated data).
at::Tensor read_npy(const std::string& path);

// Writes a float32/float64 tensor (any shape, any device) as format 1.0, C order.
// Written to a temporary file and renamed, so a failure never leaves half a file.
void write_npy(const std::string& path, const at::Tensor& tensor);

}  // namespace steepest
