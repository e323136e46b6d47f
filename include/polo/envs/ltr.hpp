#pragma once
// A synthetic learning-to-rank data set in the style of MSLR-WEB / Yahoo LETOR: queries of 20-100
// documents, dense features, graded relevance 0-4 from a hidden non-linear function plus noise,
// split into train / validation / test by query. Deterministic under its seed.
//
// Each query q draws an offset c_q ~ N(0, query_shift^2 I) shared by its documents (query-level
// feature drift, as LETOR's query-dependent features); a document has x = c_q + N(0, I) and the
// latent relevance
//   z = w . x + a (x_0 x_1) + b sin(2 x_2) + c (x_3^2 - 1) + label_noise * N(0, 1),
// with w ~ N(0, I / d) and a, b, c fixed by the seed. Grades follow the document's rank of z
// within its query (LETOR judges relative to a query's pool): the top 3% (at least one) get 4,
// the next 7% 3, 15% 2, 25% 1 and the rest 0. So labels are comparable within a query only,
// which a pointwise regression of the grade cannot see and a listwise objective does not need.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include <Eigen/Core>

#include "polo/core/error.hpp"
#include "polo/core/random.hpp"
#include "polo/core/types.hpp"

namespace polo {

struct LtrConfig {
  Index train_queries = 400;
  Index validation_queries = 100;
  Index test_queries = 200;
  Index min_docs = 20;  ///< documents per query, uniform in [min_docs, max_docs]
  Index max_docs = 100;
  Index features = 16;       ///< d
  double query_shift = 1.0;  ///< std of the per-query feature offset c_q
  double label_noise = 0.5;  ///< std of the noise on the latent relevance
};

/// One split. Document i of query q is column offsets[q] + i of `features` ([d, documents],
/// column-major: the batch layout of polo::MLP, one document per column).
struct LtrSplit {
  Eigen::MatrixXd features;
  std::vector<Index> offsets{0};  ///< queries() + 1 entries
  SeqArrayd relevance;            ///< grade 0-4 per document, [documents]

  [[nodiscard]] Index queries() const noexcept { return static_cast<Index>(offsets.size()) - 1; }
  [[nodiscard]] Index documents() const noexcept { return offsets.back(); }
  [[nodiscard]] Index begin(Index q) const { return offsets[static_cast<std::size_t>(q)]; }
  [[nodiscard]] Index size(Index q) const {
    return offsets[static_cast<std::size_t>(q) + 1] - offsets[static_cast<std::size_t>(q)];
  }
  [[nodiscard]] Index max_size() const {
    Index m = 0;
    for (Index q = 0; q < queries(); ++q)
      m = std::max(m, size(q));
    return m;
  }
};

struct LtrDataset {
  LtrSplit train;
  LtrSplit validation;
  LtrSplit test;
  Index features = 0;
};

namespace detail {

/// Grade 0-4 from the rank of each latent value within its query.
inline void grade_by_rank(const std::vector<double>& z, double* out) {
  const auto n = z.size();
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return z[a] > z[b]; });
  const double shares[] = {0.03, 0.07, 0.15, 0.25};  // grades 4, 3, 2, 1
  std::size_t at = 0;
  for (int g = 0; g < 4; ++g) {
    auto count = static_cast<std::size_t>(std::lround(shares[g] * static_cast<double>(n)));
    if (g == 0) count = std::max<std::size_t>(count, 1);
    for (std::size_t k = 0; k < count && at < n; ++k)
      out[order[at++]] = 4.0 - g;
  }
  while (at < n)
    out[order[at++]] = 0.0;
}

}  // namespace detail

/// Draws the data set (the hidden function, then train, validation and test queries in turn).
template <std::uniform_random_bit_generator G>
LtrDataset make_ltr_dataset(const LtrConfig& c, G& gen) {
  constexpr std::string_view where = "polo::make_ltr_dataset";
  if (c.features < 4) detail::fail_argument(where, "features", ">= 4", c.features);
  if (c.min_docs < 1) detail::fail_argument(where, "min_docs", ">= 1", c.min_docs);
  if (c.max_docs < c.min_docs) {
    detail::fail_argument(where, "max_docs", fmt::format(">= min_docs ({})", c.min_docs),
                          c.max_docs);
  }
  for (const Index n : {c.train_queries, c.validation_queries, c.test_queries}) {
    if (n < 1) detail::fail_argument(where, "queries per split", ">= 1", n);
  }
  detail::require_nonnegative(where, "query_shift", c.query_shift);
  detail::require_nonnegative(where, "label_noise", c.label_noise);
  const Index d = c.features;
  Eigen::VectorXd w(d);
  for (Index k = 0; k < d; ++k)
    w[k] = normal(gen) / std::sqrt(static_cast<double>(d));
  const double a = 0.8 + 0.4 * uniform(gen);
  const double b = 0.6 + 0.4 * uniform(gen);
  const double cc = 0.4 + 0.2 * uniform(gen);

  auto make_split = [&](Index queries) {
    LtrSplit s;
    std::vector<Index> sizes(static_cast<std::size_t>(queries));
    for (auto& n : sizes)
      n = c.min_docs + uniform_int(gen, c.max_docs - c.min_docs + 1);
    for (const Index n : sizes)
      s.offsets.push_back(s.offsets.back() + n);
    s.features.resize(d, s.documents());
    s.relevance.resize(s.documents());
    Eigen::VectorXd shift(d);
    std::vector<double> z;
    for (Index q = 0; q < queries; ++q) {
      for (Index k = 0; k < d; ++k)
        shift[k] = c.query_shift * normal(gen);
      const Index n = s.size(q);
      z.assign(static_cast<std::size_t>(n), 0.0);
      for (Index i = 0; i < n; ++i) {
        auto x = s.features.col(s.begin(q) + i);
        for (Index k = 0; k < d; ++k)
          x[k] = shift[k] + normal(gen);
        z[static_cast<std::size_t>(i)] = w.dot(x) + a * x[0] * x[1] + b * std::sin(2.0 * x[2]) +
                                         cc * (x[3] * x[3] - 1.0) + c.label_noise * normal(gen);
      }
      detail::grade_by_rank(z, s.relevance.data() + s.begin(q));
    }
    return s;
  };
  LtrDataset out;
  out.features = d;
  out.train = make_split(c.train_queries);
  out.validation = make_split(c.validation_queries);
  out.test = make_split(c.test_queries);
  return out;
}

}  // namespace polo
