// RFC 8305 §4 address order (transport/address_order.hpp): families interleaved, starting with
// the resolver's first answer's family, each family keeping its own order.
#include <doctest/doctest.h>
#include <netinet/in.h>

#include <vector>

#include "vmlocal/transport/address_order.hpp"

using vmlocal::transport::interleave_families;
using Order = std::vector<size_t>;

TEST_CASE("address order: IPv6 first answer, families alternate, the leftover family at the end") {
  const std::vector<int> families = {AF_INET6, AF_INET6, AF_INET6, AF_INET, AF_INET};
  CHECK(interleave_families(families) == Order{0, 3, 1, 4, 2});
}

TEST_CASE("address order: IPv4 first answer starts with IPv4") {
  const std::vector<int> families = {AF_INET, AF_INET, AF_INET6};
  CHECK(interleave_families(families) == Order{0, 2, 1});
}

TEST_CASE("address order: mixed answers keep each family's own order") {
  const std::vector<int> families = {AF_INET6, AF_INET, AF_INET6, AF_INET, AF_INET, AF_INET};
  CHECK(interleave_families(families) == Order{0, 1, 2, 3, 4, 5});
  const std::vector<int> reversed = {AF_INET, AF_INET, AF_INET, AF_INET6, AF_INET6};
  CHECK(interleave_families(reversed) == Order{0, 3, 1, 4, 2});
}

TEST_CASE("address order: one family or one address is left as it is; none gives none") {
  CHECK(interleave_families(std::vector<int>{AF_INET, AF_INET, AF_INET}) == Order{0, 1, 2});
  CHECK(interleave_families(std::vector<int>{AF_INET6}) == Order{0});
  CHECK(interleave_families(std::vector<int>{}).empty());
}

TEST_CASE("address order: the attempt delay is RFC 8305's recommended 250 ms") {
  CHECK(vmlocal::transport::kConnectionAttemptDelay.count() == 250);
}
