// Groups: construction from sizes, a fixed size and offsets; the refusals and their messages.

#include "polo/core/groups.hpp"

#include <vector>

#include "core_test_support.hpp"
#include "test_support.hpp"

using polo::Groups;
using polo::Index;
using polo_core_test::message_of;
using polo_test::Contains;

TEST_CASE("Groups::from_sizes lays groups out consecutively", "[core][groups]") {
  const Groups g = Groups::from_sizes({2, 3, 1});
  CHECK(g.count() == 3);
  CHECK(g.batch_size() == 6);
  const std::vector<Index> offsets(g.offsets().begin(), g.offsets().end());
  CHECK(offsets == std::vector<Index>{0, 2, 5, 6});
  CHECK(g.begin(1) == 2);
  CHECK(g.end(1) == 5);
  CHECK(g.size(0) == 2);
  CHECK(g.size(1) == 3);
  CHECK(g.size(2) == 1);
  CHECK(g.min_size() == 1);
  CHECK(g.max_size() == 3);

  const std::vector<Index> sizes{4, 4};
  const Groups from_span = Groups::from_sizes(sizes);
  CHECK(from_span.count() == 2);
  CHECK(from_span.batch_size() == 8);
}

TEST_CASE("Groups::uniform and the empty partition", "[core][groups]") {
  const Groups g = Groups::uniform(6, 2);
  CHECK(g.count() == 3);
  CHECK(g.batch_size() == 6);
  CHECK(g.min_size() == 2);
  CHECK(g.max_size() == 2);
  CHECK(g == Groups::from_sizes({2, 2, 2}));
  CHECK(Groups::uniform(5, 5).count() == 1);

  const Groups none;
  CHECK(none.count() == 0);
  CHECK(none.batch_size() == 0);
  CHECK(none.min_size() == 0);
  CHECK(none.max_size() == 0);
  CHECK(Groups::uniform(0, 3) == none);
  CHECK(Groups::from_sizes({}) == none);
}

TEST_CASE("Groups::from_offsets takes the partition as is", "[core][groups]") {
  const Groups g = Groups::from_offsets({0, 2, 5});
  CHECK(g.count() == 2);
  CHECK(g.batch_size() == 5);
  CHECK(g == Groups::from_sizes({2, 3}));
  CHECK_FALSE(g == Groups::from_sizes({3, 2}));
  CHECK(Groups::from_offsets({0}) == Groups());
}

TEST_CASE("Groups refuse empty groups and bad batch sizes, with messages", "[core][groups]") {
  CHECK_THAT(message_of<polo::invalid_argument>([] {
               (void)Groups::from_sizes({2, 0, 1});
             }),
             Contains("polo::Groups::from_sizes: sizes[1] must be >= 1, got 0"));
  CHECK_THAT(message_of<polo::invalid_argument>([] { (void)Groups::from_sizes({-1}); }),
             Contains("sizes[0] must be >= 1, got -1"));
  CHECK_THAT(message_of<polo::invalid_argument>([] { (void)Groups::uniform(7, 2); }),
             Contains("polo::Groups::uniform: batch_size must be a non-negative multiple of "
                      "group_size (2), got 7"));
  CHECK_THAT(message_of<polo::invalid_argument>([] { (void)Groups::uniform(-4, 2); }),
             Contains("batch_size must be a non-negative multiple"));
  CHECK_THAT(message_of<polo::invalid_argument>([] { (void)Groups::uniform(4, 0); }),
             Contains("polo::Groups::uniform: group_size must be >= 1, got 0"));
}

TEST_CASE("Groups::from_offsets refuses lists that are not a partition", "[core][groups]") {
  CHECK_THAT(message_of<polo::invalid_argument>([] {
               (void)Groups::from_offsets({0, 2, 2, 4});
             }),
             Contains("polo::Groups::from_offsets: offsets must be strictly increasing") &&
                 Contains("got [0, 2, 2, 4]"));
  CHECK_THAT(message_of<polo::invalid_argument>([] {
               (void)Groups::from_offsets({0, 3, 1});
             }),
             Contains("strictly increasing"));
  CHECK_THAT(message_of<polo::invalid_argument>([] {
               (void)Groups::from_offsets({1, 3});
             }),
             Contains("offsets must be a list starting at 0, got [1, 3]"));
  CHECK_THAT(message_of<polo::invalid_argument>([] { (void)Groups::from_offsets({}); }),
             Contains("a list starting at 0, got []"));
}

TEST_CASE("require_covers names the batch and the groups' extent", "[core][groups]") {
  const Groups g = Groups::from_sizes({2, 4});
  CHECK_NOTHROW(g.require_covers("polo::GRPO", 6));
  const auto msg = message_of<polo::invalid_argument>([&] { g.require_covers("polo::GRPO", 5); });
  CHECK_THAT(msg, Contains("polo::GRPO: groups"));
  CHECK_THAT(msg, Contains("batch of 5 rows"));
  CHECK_THAT(msg, Contains("offsets ending at 6"));
}
