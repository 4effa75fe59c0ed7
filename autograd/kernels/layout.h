// Internal: dtype-agnostic copies between strided views of tensors, for the ops that move
// elements without computing (Transpose, Slice, Concat, Split, Expand, Tile, Pad, Gather).
//
//   // y = x[:, ::-1] for x of shape (R, C)
//   Tensor y = Tensor::empty({R, C}, x.dtype());
//   copy_strided(x.raw_data(), {C, -1}, C - 1, y.raw_data(), strides_of({R, C}), 0, {R, C},
//                size_of(x.dtype()));
#pragma once

#include <tamp/autograd/tensor.h>

#include <vector>

namespace tamp::kernels {

// dst[dst_offset + sum_d i_d * dst_strides[d]] = src[src_offset + sum_d i_d * src_strides[d]]
// for every index i of `shape`. Strides and offsets count elements of `elem_size` bytes;
// source strides may be 0 (broadcast) or negative (reversed). Destination positions must
// be distinct. Large copies run in parallel.
void copy_strided(const void* src, const std::vector<int64_t>& src_strides, int64_t src_offset,
                  void* dst, const std::vector<int64_t>& dst_strides, int64_t dst_offset,
                  const Shape& shape, size_t elem_size);

// Element strides that read a tensor of shape `in` as if broadcast to `out` (0 on the
// broadcast dims; `in` aligned to the right of `out`). Throws when `in` does not broadcast.
std::vector<int64_t> broadcast_strides(const Shape& in, const Shape& out);

// `t` broadcast to `shape` as a new contiguous tensor (or `t` itself when the shapes match).
Tensor expand_to(const Tensor& t, const Shape& shape);

// Transpose: out.shape[k] = t.shape[perm[k]] (perm already validated).
Tensor permute(const Tensor& t, const std::vector<int>& perm);

}  // namespace tamp::kernels
