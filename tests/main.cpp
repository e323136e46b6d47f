// The one Catch2 main shared by every test executable (Catch2 2.x; Catch2 3 brings its own).
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
