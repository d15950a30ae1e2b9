#include <doctest/doctest.h>

#include <vector>

#include "support/vectors.hpp"
#include "vmlocal/vmess/kdf.hpp"

using namespace vmlocal;

TEST_CASE("KDF reproduces every aead.json kdf vector") {
  const auto& cases = test::load_vectors("aead.json").at("kdf");
  REQUIRE(cases.size() >= 5);
  for (const auto& c : cases) {
    CAPTURE(c.at("name").get<std::string>());
    Bytes key = test::hex(c.at("key"));
    std::vector<Bytes> path;
    for (const auto& p : c.at("path"))
      path.push_back(test::hex(p));
    // The API takes an initializer list: dispatch on the vector lengths the file uses.
    crypto::Key32 out;
    switch (path.size()) {
      case 0:
        out = vmess::kdf(key, {});
        break;
      case 1:
        out = vmess::kdf(key, {path[0]});
        break;
      case 2:
        out = vmess::kdf(key, {path[0], path[1]});
        break;
      case 3:
        out = vmess::kdf(key, {path[0], path[1], path[2]});
        break;
      default:
        FAIL("unexpected path length");
        break;
    }
    CHECK(to_hex(out) == c.at("output").get<std::string>());
    if (path.size() == 1) {
      CHECK(to_hex(vmess::kdf16(key, {path[0]})) == c.at("output16").get<std::string>());
    }
  }
}
