// Run under mpirun by dist_test.cpp: every rank checks the MPI collective's results against
// values it can compute alone, prints "rank R ok" and exits 0, or names the first mismatch
// and exits 1. `collective_check BUCKET_BYTES`.
#include <tamp/scheduler/dist.h>

#include <fmt/format.h>

#include <cmath>
#include <cstdlib>
#include <string>

using namespace tamp;

namespace {

int failures = 0;

void expect(bool ok, const std::string& what) {
  if (ok) return;
  if (failures++ < 10) fmt::print(stderr, "mismatch: {}\n", what);
}

// Rank r's value at element i (distinct per rank and element, exact in float).
double value(int r, int64_t i) { return (r + 1) * 0.5 + static_cast<double>(i % 7) - 3; }

Tensor filled(int r, Shape shape, DType dtype) {
  Tensor t = Tensor::empty(shape, dtype);
  for (int64_t i = 0; i < t.numel(); ++i) {
    const double v = dtype == DType::kInt64 ? std::floor(value(r, i) * 2) : value(r, i);
    if (dtype == DType::kFloat32)
      t.data<float>()[i] = static_cast<float>(v);
    else if (dtype == DType::kFloat64)
      t.data<double>()[i] = v;
    else
      t.data<int64_t>()[i] = static_cast<int64_t>(v);
  }
  return t;
}

double at(const Tensor& t, int64_t i) {
  if (t.dtype() == DType::kFloat32) return t.data<float>()[i];
  if (t.dtype() == DType::kFloat64) return t.data<double>()[i];
  return static_cast<double>(t.data<int64_t>()[i]);
}

double expected(nn::Reduce op, int size, DType dtype, int64_t i) {
  double sum = 0, lo = INFINITY, hi = -INFINITY;
  for (int r = 0; r < size; ++r) {
    const double v = dtype == DType::kInt64 ? std::floor(value(r, i) * 2) : value(r, i);
    sum += v;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  switch (op) {
    case nn::Reduce::kSum:
      return sum;
    case nn::Reduce::kMean:
      return dtype == DType::kInt64 ? static_cast<double>(static_cast<int64_t>(sum) / size)
                                    : sum / size;
    case nn::Reduce::kMin:
      return lo;
    case nn::Reduce::kMax:
      return hi;
  }
  return 0;
}

void check(const Tensor& t, nn::Reduce op, int size, const std::string& what) {
  for (int64_t i = 0; i < t.numel(); ++i) {
    const double want = expected(op, size, t.dtype(), i);
    if (std::abs(at(t, i) - want) > 1e-6 * std::max(1.0, std::abs(want))) {
      expect(false, fmt::format("{} element {}: {} != {}", what, i, at(t, i), want));
      return;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  const size_t bucket = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : size_t{4} << 20;
  dist::Context world(argc, argv, {.bucket_bytes = bucket});
  nn::Collective& c = world.collective();
  const int r = world.rank(), n = world.size();
  try {
    expect(c.rank() == r && c.size() == n, "collective rank/size");
    const nn::Reduce ops[] = {nn::Reduce::kSum, nn::Reduce::kMean, nn::Reduce::kMin,
                              nn::Reduce::kMax};
    const DType dtypes[] = {DType::kFloat32, DType::kFloat64, DType::kInt64};
    for (nn::Reduce op : ops) {
      for (DType dt : dtypes) {
        Tensor t = filled(r, {3, 5}, dt);
        c.allreduce(t, op);
        check(t, op, n, fmt::format("allreduce op {} {}", static_cast<int>(op), dtype_name(dt)));
        // Fused: mixed dtypes and sizes, some above the bucket size, an empty one.
        std::vector<Tensor> many;
        for (int64_t len : {1, 17, 3000, 0, 40, 100000, 5}) many.push_back(filled(r, {len}, dt));
        many.push_back(
            filled(r, {4, 4}, dt == DType::kFloat32 ? DType::kFloat64 : DType::kFloat32));
        c.allreduce_many(many, op);
        for (size_t k = 0; k < many.size(); ++k) {
          check(many[k], op, n,
                fmt::format("allreduce_many op {} {} tensor {}", static_cast<int>(op),
                            dtype_name(dt), k));
        }
      }
    }
    // Broadcast from the last rank: everyone ends with its values.
    Tensor b = filled(r, {7}, DType::kFloat32);
    c.broadcast(b, n - 1);
    for (int64_t i = 0; i < 7; ++i)
      expect(at(b, i) == static_cast<float>(value(n - 1, i)), "broadcast");
    std::vector<Tensor> bs{filled(r, {9}, DType::kFloat64), filled(r, {20000}, DType::kFloat32),
                           filled(r, {3}, DType::kInt64)};
    c.broadcast_many(bs, 0);
    for (int64_t i = 0; i < 9; ++i) expect(at(bs[0], i) == value(0, i), "broadcast_many f64");
    for (int64_t i = 0; i < 20000; ++i)
      expect(at(bs[1], i) == static_cast<float>(value(0, i)), "broadcast_many f32");
    c.barrier();
    // Unsupported dtype: a clear error, thrown on every rank before anything is sent.
    Tensor i8 = Tensor::zeros({2}, DType::kInt8);
    bool threw = false;
    try {
      c.allreduce(i8, nn::Reduce::kSum);
    } catch (const Error& e) {
      threw = std::string(e.what()).find("int8") != std::string::npos;
    }
    expect(threw, "int8 allreduce must throw naming the dtype");
    const auto stats = world.stats();
    expect(n == 1 || (stats.calls > 0 && stats.bytes > 0), "stats count calls");
  } catch (const std::exception& e) {
    fmt::print(stderr, "rank {}: {}\n", r, e.what());
    world.abort(1);
  }
  if (failures) {
    fmt::print("rank {} FAILED ({} mismatches)\n", r, failures);
    world.abort(1);
  }
  fmt::print("rank {} ok\n", r);
  return 0;
}
