// A user's program: include polo, compute a loss from log-probabilities, chain its gradient.
#include <cstdio>

#include "polo/polo.hpp"

int main() {
  polo::TokenArrayd values = polo::TokenArrayd::Constant(2, 3, 1.5);
  polo::MaskArray mask = polo::MaskArray::Ones(2, 3);
  mask(1, 2) = 0;
  const double mean = polo::aggregate(polo::TokenView<const double>(values), polo::MaskView(mask),
                                      polo::Aggregation::token_mean());
  std::printf("consumer: token mean %g\n", mean);
  return mean == 1.5 ? 0 : 1;
}
