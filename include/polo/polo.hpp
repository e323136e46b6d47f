#pragma once
// Everything public in polo. Each header also stands on its own.

#include "polo/core/aggregation.hpp"
#include "polo/core/concepts.hpp"
#include "polo/core/error.hpp"
#include "polo/core/gradcheck.hpp"
#include "polo/core/groups.hpp"
#include "polo/core/mask.hpp"
#include "polo/core/numerics.hpp"
#include "polo/core/random.hpp"
#include "polo/core/reduce.hpp"
#include "polo/core/types.hpp"
#include "polo/core/view.hpp"
