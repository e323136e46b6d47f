#include "polo/polo.hpp"
#include "test_support.hpp"

TEST_CASE("core headers compile", "[core]") { CHECK(polo::softplus(0.0) > 0.69); }
