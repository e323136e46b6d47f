#pragma once
// Helpers shared by the core tests.

#include "test_support.hpp"

namespace polo_core_test {

/// The generic helper, kept under the name the core tests have always used.
using polo_test::message_of;

}  // namespace polo_core_test
