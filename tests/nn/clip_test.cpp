// clip_grad_norm: PyTorch's values (one and several vectors), the no-op below the limit, errors.

#include "polo/nn/clip.hpp"

#include <vector>

#include "test_support.hpp"

TEST_CASE("clip_grad_norm scales by max_norm / (norm + 1e-6) as PyTorch", "[nn][clip]") {
  // torch.nn.utils.clip_grad_norm_ on grads [3, 4] and [12] with max_norm 1 returns 13 and
  // leaves [0x1.d89d88p-3, 0x1.3b13b0p-2] and [0x1.d89d88p-1] (float32).
  polo::Vectorf a(2);
  a << 3.0f, 4.0f;
  polo::Vectorf b(1);
  b << 12.0f;
  const double norm = polo::clip_grad_norm({&a, &b}, 1.0);
  CHECK(norm == 13.0);
  CHECK(a(0) == 0x1.d89d88p-3f);
  CHECK(a(1) == 0x1.3b13bp-2f);
  CHECK(b(0) == 0x1.d89d88p-1f);

  polo::Vectord c(2);
  c << 3.0, 4.0;
  CHECK(polo::clip_grad_norm(c, 0.5) == 5.0);
  CHECK(c(0) == Approx(3.0 * 0.5 / (5.0 + 1e-6)).epsilon(1e-15));
  CHECK(c.norm() == Approx(0.5).epsilon(1e-6));

  // A range of pointers.
  polo::Vectord d = polo::Vectord::Constant(4, 1.0);
  polo::Vectord e = polo::Vectord::Constant(5, 2.0);
  std::vector<polo::Vectord*> both{&d, &e};
  CHECK(polo::clip_grad_norm(both, 1.0) == Approx(std::sqrt(4.0 + 20.0)).epsilon(1e-15));
  CHECK(std::sqrt(d.squaredNorm() + e.squaredNorm()) == Approx(1.0).epsilon(1e-5));
}

TEST_CASE("clip_grad_norm leaves small or non-finite gradients alone", "[nn][clip]") {
  polo::Vectord g(2);
  g << 0.3, 0.4;
  const polo::Vectord before = g;
  CHECK(polo::clip_grad_norm(g, 1.0) == Approx(0.5).epsilon(1e-15));
  CHECK(g == before);

  polo::Vectorf h(2);
  h << 1.0f, std::numeric_limits<float>::infinity();
  CHECK(std::isinf(polo::clip_grad_norm(h, 1.0)));
  CHECK(h(0) == 1.0f);

  // The norm of a float gradient is accumulated in double: no overflow at 1e30^2.
  polo::Vectorf big = polo::Vectorf::Constant(4, 1e30f);
  CHECK(polo::clip_grad_norm(big, 1.0) == Approx(2e30).epsilon(1e-6));
}

TEST_CASE("clip_grad_norm refuses a negative max_norm", "[nn][clip][errors]") {
  polo::Vectord g = polo::Vectord::Ones(2);
  CHECK_THROWS_AS(polo::clip_grad_norm(g, -1.0), polo::invalid_argument);
  CHECK_THROWS_WITH(polo::clip_grad_norm(g, -1.0),
                    polo_test::Contains("max_norm") && polo_test::Contains(">= 0"));
}
