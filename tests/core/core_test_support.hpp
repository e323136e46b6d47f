#pragma once
// Helpers shared by the core tests.

#include <string>

namespace polo_core_test {

/// The message of the `E` that `f()` throws, or a marker that matches no expected message.
template <class E, class F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "<no exception thrown>";
}

}  // namespace polo_core_test
