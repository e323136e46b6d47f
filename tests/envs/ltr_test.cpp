// The synthetic learning-to-rank data set: shapes, grades, determinism and bad configurations.

#include "polo/envs/ltr.hpp"

#include <set>

#include "test_support.hpp"

namespace ltr_test {

using polo_test::Contains;
using polo_test::message_of;

TEST_CASE("LTR data set: query sizes, grades 0-4 by rank within each query", "[envs]") {
  polo::LtrConfig c;
  c.train_queries = 30;
  c.validation_queries = 5;
  c.test_queries = 7;
  polo::Rng gen(3);
  const polo::LtrDataset d = polo::make_ltr_dataset(c, gen);
  CHECK(d.features == 16);
  CHECK(d.train.queries() == 30);
  CHECK(d.validation.queries() == 5);
  CHECK(d.test.queries() == 7);
  for (const polo::LtrSplit* s : {&d.train, &d.validation, &d.test}) {
    CHECK(s->features.rows() == 16);
    CHECK(s->features.cols() == s->documents());
    CHECK(s->relevance.size() == s->documents());
    CHECK(s->features.allFinite());
    for (polo::Index q = 0; q < s->queries(); ++q) {
      const polo::Index n = s->size(q);
      CHECK(n >= 20);
      CHECK(n <= 100);
      const auto r = s->relevance.segment(s->begin(q), n);
      CHECK((r >= 0).all());
      CHECK((r <= 4).all());
      CHECK((r == r.floor()).all());
      // Shares by rank: exactly max(1, round(3% n)) grade-4 documents, round(7% n) grade 3.
      CHECK((r == 4).count() ==
            std::max<polo::Index>(1, std::lround(0.03 * static_cast<double>(n))));
      CHECK((r == 3).count() == std::lround(0.07 * static_cast<double>(n)));
      CHECK((r == 0).count() >= n / 2 - 3);  // the rest, less rounding of the four shares
    }
  }
}

TEST_CASE("LTR data set is deterministic under its seed and differs across seeds", "[envs]") {
  polo::LtrConfig c;
  c.train_queries = 4;
  c.validation_queries = 1;
  c.test_queries = 1;
  polo::Rng a(9), b(9), other(10);
  const auto x = polo::make_ltr_dataset(c, a);
  const auto y = polo::make_ltr_dataset(c, b);
  const auto z = polo::make_ltr_dataset(c, other);
  CHECK(x.train.offsets == y.train.offsets);
  CHECK((x.train.features.array() == y.train.features.array()).all());
  CHECK((x.test.relevance == y.test.relevance).all());
  CHECK(x.train.features(0, 0) != z.train.features(0, 0));
}

TEST_CASE("LTR data set refuses bad configurations with messages", "[envs]") {
  polo::Rng gen(1);
  using E = polo::invalid_argument;
  polo::LtrConfig c;
  c.features = 2;
  CHECK_THAT(message_of<E>([&] { (void)polo::make_ltr_dataset(c, gen); }),
             Contains("polo::make_ltr_dataset: features must be >= 4, got 2"));
  c = {};
  c.max_docs = 10;
  CHECK_THAT(message_of<E>([&] { (void)polo::make_ltr_dataset(c, gen); }),
             Contains("max_docs must be >= min_docs (20), got 10"));
  c = {};
  c.test_queries = 0;
  CHECK_THAT(message_of<E>([&] { (void)polo::make_ltr_dataset(c, gen); }),
             Contains("queries per split must be >= 1, got 0"));
  c = {};
  c.label_noise = -1;
  CHECK_THAT(message_of<E>([&] { (void)polo::make_ltr_dataset(c, gen); }),
             Contains("label_noise must be >= 0, got -1"));
}

}  // namespace ltr_test
