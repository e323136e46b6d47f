// Optimizers against hand-computed updates and against torch.optim (values produced by PyTorch
// 1.13 on CPU, printed with float.hex(); the script is in the comment below). Float results may
// differ from torch's in the last bit (its AVX2 kernels fuse a + alpha * b into one FMA), so
// float compares allow 2 ulps and double 4e-16 relative.
//
//   p = torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=dtype, requires_grad=True)
//   opt = Optimizer([p], **kw)
//   for g in ([0.5, -1.0, 0.25, 2.0], [0.1, 0.2, -0.3, 0.4], [-0.7, 0.05, 0.6, -1.5]):
//       p.grad = torch.tensor(g, dtype=dtype); opt.step()

#include "polo/nn/optim.hpp"

#include <array>
#include <cmath>
#include <vector>

#include "test_support.hpp"

namespace {

using polo::Index;

template <class S, class Opt>
polo::Vector<S> run_three_steps(Opt opt) {
  polo::Vector<S> p(4);
  p << S(1.0), S(-2.0), S(0.5), S(3.0);
  const std::array<std::array<double, 4>, 3> grads = {
      {{0.5, -1.0, 0.25, 2.0}, {0.1, 0.2, -0.3, 0.4}, {-0.7, 0.05, 0.6, -1.5}}};
  for (const auto& g : grads) {
    polo::Vector<S> gv(4);
    for (Index k = 0; k < 4; ++k)
      gv(k) = static_cast<S>(g[static_cast<std::size_t>(k)]);
    opt.step(p, gv);
  }
  return p;
}

template <class S>
polo::Vector<S> vec(std::array<double, 4> v) {
  polo::Vector<S> out(4);
  for (Index k = 0; k < 4; ++k)
    out(k) = static_cast<S>(v[static_cast<std::size_t>(k)]);
  return out;
}

// Each element within `ulps` floats of the reference.
bool within_ulps(const polo::Vectorf& a, const polo::Vectorf& b, int ulps = 2) {
  if (a.size() != b.size()) return false;
  for (Index k = 0; k < a.size(); ++k) {
    float x = a(k);
    for (int step = 0; step < ulps && x != b(k); ++step)
      x = std::nextafter(x, b(k));
    if (x != b(k)) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("Adam: two steps by hand", "[nn][optim]") {
  // lr 0.1, betas (0.9, 0.999), eps 1e-8, p0 = 1, g1 = 0.5, g2 = 0.1.
  // step 1: m = 0.1 * 0.5 = 0.05; v = 0.001 * 0.25 = 2.5e-4; bc1 = 0.1; bc2 = 0.001
  //         p1 = 1 - (0.1 / 0.1) * 0.05 / (sqrt(2.5e-4) / sqrt(0.001) + 1e-8)
  //            = 1 - 0.05 / (0.5 + 1e-8) = 0.900000002
  // step 2: m = 0.9 * 0.05 + 0.1 * 0.1 = 0.055; v = 0.999 * 2.5e-4 + 0.001 * 0.01 = 2.5975e-4
  //         bc1 = 1 - 0.81 = 0.19; bc2 = 1 - 0.998001 = 0.001999
  //         p2 = p1 - (0.1 / 0.19) * 0.055 / (sqrt(2.5975e-4) / sqrt(0.001999) + 1e-8)
  //            = p1 - 0.5263158 * 0.055 / 0.3604734 = 0.8196951 (approximately)
  polo::Adam<double> adam(1, {.learning_rate = 0.1});
  polo::Vectord p(1);
  p << 1.0;
  adam.step(p, polo::Vectord::Constant(1, 0.5));
  const double p1 = 1.0 - (0.1 / 0.1) * 0.05 / (std::sqrt(2.5e-4) / std::sqrt(0.001) + 1e-8);
  CHECK(p(0) == Approx(p1).epsilon(1e-14));
  CHECK(p(0) == Approx(0.900000002).epsilon(1e-12));
  adam.step(p, polo::Vectord::Constant(1, 0.1));
  const double m2 = 0.9 * 0.05 + 0.1 * 0.1;
  const double v2 = 0.999 * 2.5e-4 + 0.001 * 0.01;
  const double p2 =
      p1 - (0.1 / 0.19) * m2 / (std::sqrt(v2) / std::sqrt(1.0 - 0.999 * 0.999) + 1e-8);
  CHECK(p(0) == Approx(p2).epsilon(1e-14));
  CHECK(p(0) == Approx(0.8196951).epsilon(1e-6));
  CHECK(adam.steps() == 2);
  CHECK(adam.exp_avg()(0) == Approx(m2).epsilon(1e-15));
  CHECK(adam.exp_avg_sq()(0) == Approx(v2).epsilon(1e-15));
}

TEST_CASE("Adam and AdamW match torch.optim", "[nn][optim]") {
  SECTION("float32") {
    CHECK(within_ulps(run_three_steps<float>(polo::Adam<float>(4, {.learning_rate = 0.1})),
                      vec<float>({0x1.ab6dep-1, -0x1.d004d4p+0, 0x1.7791f8p-2, 0x1.675ebp+1})));
    CHECK(within_ulps(
        run_three_steps<float>(polo::Adam<float>(4, {.learning_rate = 0.1, .weight_decay = 0.1})),
        vec<float>({0x1.9f2a56p-1, -0x1.c68abcp+0, 0x1.5f4d3ep-2, 0x1.6466ccp+1})));
    // beta1 = 0.3: the gradient weighs more than the running mean.
    CHECK(within_ulps(run_three_steps<float>(polo::Adam<float>(
                          4, {.learning_rate = 0.1, .beta1 = 0.3, .beta2 = 0.99})),
                      vec<float>({0x1.df65a4p-1, -0x1.e44a6ap+0, 0x1.7b1e52p-2, 0x1.73ed5ap+1})));
    CHECK(within_ulps(
        run_three_steps<float>(polo::AdamW<float>(4, {.learning_rate = 0.1, .weight_decay = 0.1})),
        vec<float>({0x1.9da7p-1, -0x1.c173c4p+0, 0x1.6a4132p-2, 0x1.5c527ep+1})));
  }
  SECTION("float64") {
    const auto near = [](const polo::Vectord& a, const polo::Vectord& b) {
      return (a - b).cwiseAbs().maxCoeff() <= 4e-16 * b.cwiseAbs().maxCoeff();
    };
    CHECK(near(run_three_steps<double>(polo::Adam<double>(4, {.learning_rate = 0.1})),
               vec<double>({0x1.ab6ddf55727aep-1, -0x1.d004d5906f389p+0, 0x1.7791f70397f6ep-2,
                            0x1.675eaefe5a434p+1})));
    CHECK(near(
        run_three_steps<double>(polo::Adam<double>(4, {.learning_rate = 0.1, .weight_decay = 0.1})),
        vec<double>({0x1.9f2a56bf163fbp-1, -0x1.c68abc536a6a7p+0, 0x1.5f4d3dcb82e77p-2,
                     0x1.6466c9cd83913p+1})));
    CHECK(near(run_three_steps<double>(
                   polo::AdamW<double>(4, {.learning_rate = 0.1, .weight_decay = 0.1})),
               vec<double>({0x1.9da6fe0cea197p-1, -0x1.c173c5a235a19p+0, 0x1.6a41309ae6a8ep-2,
                            0x1.5c527a94a9302p+1})));
  }
}

TEST_CASE("AdamW decays before the update, decoupled from the moments", "[nn][optim]") {
  // A zero gradient leaves m = v = 0, so the Adam part is 0 / (0 + eps) = 0: only the decay acts.
  polo::AdamW<double> adamw(2, {.learning_rate = 0.1, .weight_decay = 0.5});
  CHECK(polo::AdamWOptions{}.weight_decay == 0.01);
  polo::Vectord p(2);
  p << 2.0, -4.0;
  adamw.step(p, polo::Vectord::Zero(2));
  CHECK(p(0) == Approx(2.0 * (1.0 - 0.1 * 0.5)).epsilon(1e-15));
  CHECK(p(1) == Approx(-4.0 * 0.95).epsilon(1e-15));
  CHECK(adamw.exp_avg().isZero(0.0));
  // Adam's L2 decay goes through the moments instead: the first step moves by lr * sign.
  polo::Adam<double> adam(2, {.learning_rate = 0.1, .weight_decay = 0.5});
  p << 2.0, -4.0;
  adam.step(p, polo::Vectord::Zero(2));
  CHECK(p(0) == Approx(1.9).epsilon(1e-7));
  CHECK(p(1) == Approx(-3.9).epsilon(1e-7));
}

TEST_CASE("SGD with momentum and nesterov by hand and against torch", "[nn][optim]") {
  // lr 0.1, momentum 0.9; g1 = 0.5, g2 = 0.1 on p0 = 1.
  //   plain:    buf1 = 0.5;  p1 = 1 - 0.05 = 0.95; buf2 = 0.45 + 0.1 = 0.55; p2 = 0.95 - 0.055
  //   nesterov: step = g + 0.9 buf: p1 = 1 - 0.1 * (0.5 + 0.45) = 0.905;
  //             p2 = 0.905 - 0.1 * (0.1 + 0.9 * 0.55) = 0.8455
  polo::SGD<double> sgd(1, {.learning_rate = 0.1, .momentum = 0.9});
  polo::SGD<double> nag(1, {.learning_rate = 0.1, .momentum = 0.9, .nesterov = true});
  polo::Vectord p = polo::Vectord::Ones(1);
  polo::Vectord q = polo::Vectord::Ones(1);
  for (double g : {0.5, 0.1}) {
    sgd.step(p, polo::Vectord::Constant(1, g));
    nag.step(q, polo::Vectord::Constant(1, g));
  }
  CHECK(p(0) == Approx(0.895).epsilon(1e-14));
  CHECK(sgd.momentum_buffer()(0) == Approx(0.55).epsilon(1e-14));
  CHECK(q(0) == Approx(0.8455).epsilon(1e-14));
  CHECK(sgd.steps() == 2);

  polo::SGD<double> plain(1, {.learning_rate = 0.5});
  p << 1.0;
  plain.step(p, polo::Vectord::Constant(1, 0.2));
  CHECK(p(0) == Approx(0.9).epsilon(1e-15));

  CHECK(within_ulps(
      run_three_steps<float>(polo::SGD<float>(4, {.learning_rate = 0.1, .momentum = 0.9})),
      vec<float>({0x1.d4bc6ap-1, -0x1.c5a1cap+0, 0x1.b78d4ep-2, 0x1.441892p+1})));
  CHECK(within_ulps(
      run_three_steps<float>(polo::SGD<float>(
          4, {.learning_rate = 0.1, .momentum = 0.9, .weight_decay = 0.01, .nesterov = true})),
      vec<float>({0x1.da59b2p-1, -0x1.b46658p+0, 0x1.8283fp-2, 0x1.3bc34cp+1})));
  CHECK(within_ulps(run_three_steps<float>(polo::SGD<float>(
                        4, {.learning_rate = 0.1, .momentum = 0.9, .dampening = 0.5})),
                    vec<float>({0x1.c7ae14p-1, -0x1.c020c4p+0, 0x1.b91688p-2, 0x1.3f5c28p+1})));
}

TEST_CASE("Optimizers: learning rate, state and reset", "[nn][optim]") {
  polo::Adam<float> adam(3);
  CHECK(adam.learning_rate() == 1e-3);
  adam.set_learning_rate(5e-4);
  CHECK(adam.learning_rate() == 5e-4);
  CHECK(adam.num_parameters() == 3);
  polo::Vectorf p = polo::Vectorf::Ones(3);
  adam.step(p, polo::Vectorf::Ones(3));
  CHECK(adam.steps() == 1);
  adam.reset();
  CHECK(adam.steps() == 0);
  CHECK(adam.exp_avg().isZero(0.0));
  adam.set_steps(10);
  CHECK(adam.steps() == 10);
}

TEST_CASE("Optimizers refuse bad hyper-parameters and sizes", "[nn][optim][errors]") {
  using polo_test::Contains;
  CHECK_THROWS_AS(polo::Adam<double>(2, {.learning_rate = -1.0}), polo::invalid_argument);
  CHECK_THROWS_WITH(
      polo::Adam<double>(2, {.learning_rate = -1.0}),
      Contains("polo::Adam") && Contains("learning_rate") && Contains(">= 0") && Contains("-1"));
  CHECK_THROWS_WITH(polo::Adam<double>(2, {.beta1 = 1.0}),
                    Contains("beta1") && Contains("[0, 1)") && Contains("got 1"));
  CHECK_THROWS_WITH(polo::AdamW<float>(2, {.beta2 = -0.1}),
                    Contains("polo::AdamW") && Contains("beta2"));
  CHECK_THROWS_WITH(polo::Adam<double>(2, {.eps = -1e-8}), Contains("eps"));
  CHECK_THROWS_WITH(polo::Adam<double>(2, {.weight_decay = -0.1}), Contains("weight_decay"));
  CHECK_THROWS_WITH(polo::SGD<double>(2, {.momentum = -0.5}), Contains("momentum"));
  CHECK_THROWS_WITH(polo::SGD<double>(2, {.nesterov = true}),
                    Contains("nesterov") && Contains("momentum 0"));
  CHECK_THROWS_WITH(polo::SGD<double>(2, {.dampening = 2.0}), Contains("dampening"));

  polo::Adam<double> adam(2);
  CHECK_THROWS_WITH(adam.set_learning_rate(std::nan("")), Contains("learning_rate"));
  polo::Vectord p = polo::Vectord::Zero(3);
  CHECK_THROWS_WITH(adam.step(p, polo::Vectord::Zero(3)),
                    Contains("params size") && Contains("2") && Contains("got 3"));
  polo::Vectord q = polo::Vectord::Zero(2);
  CHECK_THROWS_WITH(adam.step(q, polo::Vectord::Zero(1)), Contains("grads size"));
}
