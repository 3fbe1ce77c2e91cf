// Internal: text files written to <path>.tmp and renamed, so a reader (or a
// resumed run) never sees a half-written config, summary or report.
#pragma once

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

namespace steepest::detail {

inline void write_text_atomically(const std::filesystem::path& path, const std::string& text) {
  const std::filesystem::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp);
    out << text;
    if (!out) throw std::runtime_error("cannot write '" + tmp.string() + "'");
  }
  std::filesystem::rename(tmp, path);
}

}  // namespace steepest::detail
