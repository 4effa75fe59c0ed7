// Per-channel histogram observers (percentile, entropy, MSE): on known data each channel's
// range is exactly what the per-tensor observer computes from that channel's values alone,
// through batches that grow the histogram, a checkpoint round trip and cross-rank syncs
// (which sum, per channel, only the counts added since the previous sync). Then the weight
// observers they enable: static PTQ with MSE weight ranges, exported and run in ORT.
#include <tamp/compression/quantization/observers/histogram_observer.h>
#include <tamp/compression/quantization/ptq/static_quantization.h>

#include "compression/quantization/quant_test_support.h"

#include <cmath>
#include <vector>

namespace tamp::test {
namespace {

using namespace compression;

// x (N, C, H, W): channel c holds a differently shaped distribution, scaled by `grow`.
Tensor channel_data(int64_t n, int64_t c, Generator& rng, float grow) {
  Tensor x = Tensor::empty({n, c, 5, 6});
  float* p = x.data<float>();
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t k = 0; k < c; ++k) {
      for (int64_t j = 0; j < 30; ++j) {
        float v = static_cast<float>(rng.normal()) * static_cast<float>(1 << k) * grow;
        if (k % 2 == 1) v = std::max(v, 0.0f);             // ReLU-like: a spike at zero
        if (k == 2 && j == 0 && i == 0) v = 40.0f * grow;  // one outlier
        p[((i * c) + k) * 30 + j] = v;
      }
    }
  }
  return x;
}

// Channel k of x (N, C, ...) as its own contiguous tensor.
Tensor channel_slice(const Tensor& x, int64_t k) {
  const int64_t n = x.dim(0), c = x.dim(1), inner = x.numel() / (n * c);
  Tensor out = Tensor::empty({n, inner});
  for (int64_t i = 0; i < n; ++i) {
    std::copy_n(x.data<float>() + (i * c + k) * inner, inner, out.data<float>() + i * inner);
  }
  return out;
}

// The other rank saw exactly the same: sums double, min and max stay.
class TwinPeer : public nn::Collective {
 public:
  int size() const override { return 2; }
  void allreduce(Tensor& t, nn::Reduce op) override {
    if (op != nn::Reduce::kSum) return;
    for (int64_t i = 0; i < t.numel(); ++i) t.data<double>()[i] *= 2;
  }
};

void expect_same_ranges(const HistogramObserver& pc, const std::vector<HistogramObserver>& pt,
                        const char* what) {
  auto [lo, hi] = pc.range();
  ASSERT_EQ(lo.numel(), static_cast<int64_t>(pt.size()));
  for (size_t k = 0; k < pt.size(); ++k) {
    auto [l, h] = pt[k].range();
    EXPECT_EQ(lo.at(static_cast<int64_t>(k)), l.item()) << what << " channel " << k;
    EXPECT_EQ(hi.at(static_cast<int64_t>(k)), h.item()) << what << " channel " << k;
    EXPECT_EQ(pc.histogram(static_cast<int64_t>(k)).counts, pt[k].histogram().counts)
        << what << " channel " << k;
  }
}

TEST(PerChannelHistogram, EachChannelEqualsThePerTensorObserverOfItsValues) {
  constexpr int64_t kChannels = 4;
  for (ObserverKind kind :
       {ObserverKind::kPercentile, ObserverKind::kEntropy, ObserverKind::kMse}) {
    for (QuantSpec base : {quint8, qint8}) {
      QuantSpec pt_spec = base;
      pt_spec.observer = {.kind = kind, .percentile = 99.0, .bins = 256};
      QuantSpec pc_spec = pt_spec;
      pc_spec.per_channel = true;
      pc_spec.axis = 1;
      HistogramObserver pc(pc_spec);
      std::vector<HistogramObserver> pt(kChannels, HistogramObserver(pt_spec));
      TwinPeer peer;
      Generator rng(11);
      // Ranges grow from batch to batch (histograms merge bins); a sync in the middle.
      for (float grow : {0.5f, 1.0f, 3.0f}) {
        const Tensor x = channel_data(8, kChannels, rng, grow);
        pc.observe(x);
        for (int64_t k = 0; k < kChannels; ++k)
          pt[static_cast<size_t>(k)].observe(channel_slice(x, k));
        if (grow == 1.0f) {
          pc.sync(peer);
          for (auto& o : pt) o.sync(peer);
        }
      }
      const std::string what =
          fmt::format("{} {}", observer_name(kind), base.is_signed ? "int8" : "uint8");
      expect_same_ranges(pc, pt, what.c_str());
      // A checkpoint round trip keeps every channel.
      HistogramObserver back(pc_spec);
      back.load_state(pc.state());
      expect_same_ranges(back, pt, (what + " after load_state").c_str());
    }
  }
}

TEST(PerChannelHistogram, SyncSumsOnlyWhatEachChannelAddedSinceThePreviousSync) {
  QuantSpec spec = quint8;
  spec.observer = {.kind = ObserverKind::kPercentile, .bins = 64};
  spec.per_channel = true;
  spec.axis = 1;
  HistogramObserver h(spec);
  TwinPeer peer;
  Generator rng(5);
  auto total = [&](int64_t k) {
    double t = 0;
    for (double c : h.histogram(k).counts) t += c;
    return t;
  };
  const int64_t per_channel_values = 8 * 30;
  h.observe(channel_data(8, 3, rng, 1.0f));
  h.sync(peer);
  for (int64_t k = 0; k < 3; ++k) EXPECT_EQ(total(k), 2.0 * per_channel_values) << k;
  h.sync(peer);  // nothing added since: nothing doubles again
  for (int64_t k = 0; k < 3; ++k) EXPECT_EQ(total(k), 2.0 * per_channel_values) << k;
  h.observe(channel_data(8, 3, rng, 2.0f));  // grows the range: the synced part merges too
  h.sync(peer);
  for (int64_t k = 0; k < 3; ++k) EXPECT_EQ(total(k), 4.0 * per_channel_values) << k;
  // A rank that saw nothing yet stays empty when no rank has data.
  HistogramObserver empty(spec);
  empty.sync(peer);
  EXPECT_FALSE(empty.has_data());
}

TEST(PerChannelHistogram, MakeObserverAcceptsThemAndBadStateIsRefused) {
  QuantSpec spec = qint8_per_channel;
  spec.observer.kind = ObserverKind::kMse;
  auto obs = make_observer(spec);
  Generator rng(3);
  obs->observe(channel_data(2, 3, rng, 1.0f).reshape({6, 5, 6}));  // axis 0: 6 channels
  EXPECT_EQ(obs->range().first.numel(), 6);
  EXPECT_EQ(obs->qparams().scale.numel(), 6);
  auto state = obs->state();
  state["histogram"] = Tensor::zeros({6}, DType::kFloat64);
  HistogramObserver h(spec);
  EXPECT_THROW(h.load_state(state), Error);
  EXPECT_THROW(obs->observe(Tensor::zeros({5, 2})), Error);  // 5 channels after 6
}

// weight_qparams with an MSE weight observer = the per-tensor MSE observer on each row.
TEST(PerChannelHistogram, MseWeightRangesInStaticQuantizationRunInOrt) {
  const auto& data = fashion_mnist();
  QuantizerOptions o;
  o.weights.observer.kind = ObserverKind::kMse;
  nn::GraphModule m(load_model("cnn"));
  const Tensor fc1 = m.parameter("fc1.weight").value().clone();  // Gemm transB: [out, in]
  auto sq = std::make_shared<StaticQuantization>(o);
  Trainer(m, {sq}, {.train = data.train->slice(0, 512), .calibration_batches = 4}).run();
  const Tensor scale = m.parameter(sq->sites()[2].scale).value();
  ASSERT_EQ(sq->sites()[2].value, "fc1.weight");
  QuantSpec row = qint8;
  row.observer.kind = ObserverKind::kMse;
  int clipped = 0;
  for (int64_t r = 0; r < fc1.dim(0); ++r) {
    HistogramObserver h(row);
    Tensor w = Tensor::empty({fc1.dim(1)});
    std::copy_n(fc1.data<float>() + r * fc1.dim(1), fc1.dim(1), w.data<float>());
    h.observe(w);
    EXPECT_EQ(scale.at(r), h.qparams().scale.item()) << r;
    auto [lo, hi] = channel_min_max(w, false, 0);
    clipped += scale.at(r) * 127 < std::max(-lo.item(), hi.item()) * 0.999;
  }
  fmt::print("fc1: {} of {} rows clipped by the MSE range\n", clipped, fc1.dim(0));
  EXPECT_GT(clipped, 0);
  const auto test = data.test->slice(0, 500);
  const Tensor sim = tamp_logits(m, test->x());
  TempDir dir;
  const Tensor ort =
      ort_logits(lower_quantized(m.export_graph(), QuantFormat::kQdq), test->x(), dir, "q.onnx");
  double diff = 0;
  for (int64_t i = 0; i < sim.numel(); ++i) diff = std::max(diff, std::fabs(sim.at(i) - ort.at(i)));
  EXPECT_LE(diff, m.parameter("logits_scale").value().item() * 1.0001);
}

}  // namespace
}  // namespace tamp::test
