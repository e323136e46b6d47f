// First of two translation units that include the umbrella header.
#include "polo/polo.hpp"

double odr_first() {
  polo::TokenArrayd x = polo::TokenArrayd::Constant(2, 3, 0.5);
  return polo::masked_sum(polo::TokenView<const double>(x));
}
