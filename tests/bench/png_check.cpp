// Test helper: decodes an 8-bit RGB/RGBA PNG (what Chromium's --screenshot
// writes) and checks that it is not blank: the share of pixels that are not
// near-white, and the number of distinct colours among them.
//   png_check FILE MIN_NONWHITE_FRACTION MIN_COLOURS
// Prints "width height nonwhite_fraction colours" and exits 1 if below.
#include <zlib.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace {

uint32_t be32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

int fail(const std::string& msg) {
  std::fprintf(stderr, "png_check: %s\n", msg.c_str());
  return 1;
}

int paeth(int a, int b, int c) {
  const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
  if (pa <= pb && pa <= pc) return a;
  return pb <= pc ? b : c;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return fail("usage: png_check FILE MIN_NONWHITE_FRACTION [#rrggbb ...]");
  std::ifstream in(argv[1], std::ios::binary);
  const std::vector<unsigned char> f((std::istreambuf_iterator<char>(in)), {});
  static const unsigned char sig[8] = {137, 80, 78, 71, 13, 10, 26, 10};
  if (f.size() < 33 || !std::equal(sig, sig + 8, f.begin()))
    return fail(std::string("not a PNG: ") + argv[1]);
  uint32_t w = 0, h = 0;
  int channels = 0;
  std::vector<unsigned char> idat;
  for (size_t pos = 8; pos + 12 <= f.size();) {
    const uint32_t len = be32(&f[pos]);
    const std::string type(f.begin() + pos + 4, f.begin() + pos + 8);
    const unsigned char* data = &f[pos + 8];
    if (pos + 12 + len > f.size()) return fail("truncated chunk");
    if (type == "IHDR") {
      w = be32(data);
      h = be32(data + 4);
      if (data[8] != 8 || data[12] != 0) return fail("only 8-bit non-interlaced PNGs");
      channels = data[9] == 6 ? 4 : data[9] == 2 ? 3 : 0;
      if (channels == 0) return fail("only RGB/RGBA PNGs");
    } else if (type == "IDAT") {
      idat.insert(idat.end(), data, data + len);
    }
    pos += 12 + len;
  }
  const size_t stride = static_cast<size_t>(w) * channels;
  std::vector<unsigned char> raw((stride + 1) * h);
  uLongf raw_len = raw.size();
  if (uncompress(raw.data(), &raw_len, idat.data(), idat.size()) != Z_OK || raw_len != raw.size())
    return fail("bad zlib data");
  std::vector<unsigned char> img(stride * h), prev(stride, 0);
  for (uint32_t y = 0; y < h; ++y) {
    const unsigned char filter = raw[y * (stride + 1)];
    const unsigned char* src = &raw[y * (stride + 1) + 1];
    unsigned char* out = &img[y * stride];
    for (size_t x = 0; x < stride; ++x) {
      const int a = x >= static_cast<size_t>(channels) ? out[x - channels] : 0;
      const int b = prev[x];
      const int c = x >= static_cast<size_t>(channels) ? prev[x - channels] : 0;
      int v = src[x];
      switch (filter) {
        case 0:
          break;
        case 1:
          v += a;
          break;
        case 2:
          v += b;
          break;
        case 3:
          v += (a + b) / 2;
          break;
        case 4:
          v += paeth(a, b, c);
          break;
        default:
          return fail("bad filter");
      }
      out[x] = static_cast<unsigned char>(v);
    }
    std::copy(out, out + stride, prev.begin());
  }
  std::vector<std::array<int, 3>> want;
  for (int a = 3; a < argc; ++a) {
    unsigned rgb = 0;
    if (std::sscanf(argv[a], "#%6x", &rgb) != 1) return fail(std::string("bad colour ") + argv[a]);
    want.push_back({static_cast<int>(rgb >> 16), static_cast<int>((rgb >> 8) & 255),
                    static_cast<int>(rgb & 255)});
  }
  std::vector<size_t> hits(want.size(), 0);
  size_t nonwhite = 0;
  for (size_t i = 0; i < static_cast<size_t>(w) * h; ++i) {
    const unsigned char* p = &img[i * channels];
    if (p[0] < 200 || p[1] < 200 || p[2] < 200) ++nonwhite;
    for (size_t k = 0; k < want.size(); ++k)
      if (std::abs(p[0] - want[k][0]) <= 24 && std::abs(p[1] - want[k][1]) <= 24 &&
          std::abs(p[2] - want[k][2]) <= 24)
        ++hits[k];
  }
  const double frac = static_cast<double>(nonwhite) / (static_cast<double>(w) * h);
  std::printf("%u %u %.4f", w, h, frac);
  bool ok = frac >= std::atof(argv[2]);
  for (size_t k = 0; k < want.size(); ++k) {
    std::printf(" %s:%zu", argv[3 + k], hits[k]);
    ok &= hits[k] >= 200;
  }
  std::printf("\n");
  return ok ? 0 : 1;
}
