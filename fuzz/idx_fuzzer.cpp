// libFuzzer target: IDX files, raw and gzip-compressed. An input whose first byte is odd is
// compressed here before the reader sees it, so mutations reach the IDX parser behind zlib
// too; an even first byte passes the rest as it is (raw IDX, or gzip data mutated in place).
#include <tamp/io/idx.h>

#include <zlib.h>

#include <vector>

#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tamp;
  if (size == 0) return 0;
  const bool compress_here = data[0] & 1;
  ++data;
  --size;
  std::vector<uint8_t> gz;
  if (compress_here) {
    // A gzip stream: deflate with a gzip wrapper (windowBits 15 + 16).
    z_stream zs{};
    if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
        Z_OK)
      std::abort();
    gz.resize(deflateBound(&zs, size) + 32);
    zs.next_in = const_cast<Bytef*>(data);
    zs.avail_in = static_cast<uInt>(size);
    zs.next_out = gz.data();
    zs.avail_out = static_cast<uInt>(gz.size());
    if (deflate(&zs, Z_FINISH) != Z_STREAM_END) std::abort();
    gz.resize(zs.total_out);
    deflateEnd(&zs);
    data = gz.data();
    size = gz.size();
  }
  try {
    const Tensor t =
        io::read_idx(fuzz::write_input_file(data, size, compress_here ? ".idx.gz" : ".idx"));
    if (t.numel() > 0 && t.raw_data() == nullptr) std::abort();
  } catch (const Error&) {}
  return 0;
}
