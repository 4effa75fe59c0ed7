// Internal to io/: the seal of a checkpoint file. HDF5's user block (kSealBytes at the start
// of the file, which libhdf5 skips) holds "tamp-checkpoint\n", a seal version, a CRC-32 of every
// byte after the block and the whole file's length, little-endian, zeros to the end of the block.
#pragma once

#include <cstdint>
#include <string>

namespace tamp::io::detail {

constexpr uint64_t kSealBytes = 512;  // HDF5's smallest user block

// Writes the seal into the user block of a closed HDF5 file created with one.
void seal_checkpoint(const std::string& path);
// Throws a tamp::Error saying what is wrong (no seal, another seal version, a length or CRC-32
// that does not match, nonzero reserved bytes) unless the file's seal holds.
void check_checkpoint_seal(const std::string& path, uint64_t file_bytes);

}  // namespace tamp::io::detail
