// [route]: the rule parser, the private-target classifier, the decision order, the profile
// keys, and the Router's three ways.
#include <doctest/doctest.h>
#include <uv.h>

#include <string>

#include "vmlocal/config/profile.hpp"
#include "vmlocal/outbound/router.hpp"
#include "vmlocal/route/rules.hpp"

using namespace vmlocal;
using route::Decision;

namespace {

TargetAddress v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return TargetAddress::ipv4({a, b, c, d}, 80);
}

TargetAddress v6(std::string_view text) {
  route::ParsedRule parsed = route::parse_rule(text);  // a /128 holds the address itself
  REQUIRE(parsed.rule);
  return TargetAddress::ipv6(parsed.rule->network, 443);
}

TargetAddress name(std::string text) {
  return TargetAddress::from_domain(std::move(text), 80);
}

route::Rule rule(std::string_view text) {
  route::ParsedRule parsed = route::parse_rule(text);
  INFO(parsed.error);
  REQUIRE(parsed.rule);
  return *parsed.rule;
}

std::string rule_error(std::string_view text) {
  route::ParsedRule parsed = route::parse_rule(text);
  CHECK_FALSE(parsed.rule);
  return parsed.error;
}

std::string header() {
  return "[server]\naddress = \"vmess.example.org\"\nport = 443\n"
         "uuid = \"b831381d-6324-4d53-ad4f-8cda48b30811\"\n";
}

}  // namespace

TEST_CASE("route: private targets are loopback, RFC 1918, link-local, ULA and local names") {
  const TargetAddress private_targets[] = {
      v4(127, 0, 0, 1),
      v4(127, 255, 1, 2),
      v4(10, 1, 2, 3),
      v4(172, 16, 0, 1),
      v4(172, 31, 255, 255),
      v4(192, 168, 1, 1),
      v4(169, 254, 9, 9),
      v4(0, 0, 0, 0),
      v6("::1"),
      v6("::"),
      v6("fe80::1"),
      v6("febf::1"),
      v6("fc00::1"),
      v6("fd12:3456::1"),
      v6("::ffff:192.168.0.1"),
      name("localhost"),
      name("LOCALHOST."),
      name("db.localhost"),
      name("printer.local"),
      name("nas.home.arpa"),
      name("127.0.0.1"),
      name("[::1]"),
      name("10.0.0.7"),
  };
  for (const TargetAddress& target : private_targets) {
    CAPTURE(target.to_string());
    CHECK(route::is_private(target));
  }
  const TargetAddress public_targets[] = {
      v4(8, 8, 8, 8),       v4(172, 15, 255, 255),
      v4(172, 32, 0, 1),    v4(192, 169, 0, 1),
      v4(11, 0, 0, 1),      v4(169, 253, 1, 1),
      v4(100, 64, 0, 1),    v6("2001:db8::1"),
      v6("fec0::1"),        v6("fe00::1"),
      v6("::ffff:8.8.8.8"), v6("::2"),
      name("example.org"),  name("localhost.example.org"),
      name("mylocal"),      name("local.example"),
      name("notlocalhost"), name("10.0.0.7.example.org"),
  };
  for (const TargetAddress& target : public_targets) {
    CAPTURE(target.to_string());
    CHECK_FALSE(route::is_private(target));
  }
}

TEST_CASE("route: rules are address ranges or domain suffixes") {
  CHECK(rule("10.0.0.0/8").matches(v4(10, 200, 1, 1)));
  CHECK_FALSE(rule("10.0.0.0/8").matches(v4(11, 0, 0, 1)));
  CHECK(rule("10.1.2.3/8").matches(v4(10, 9, 9, 9)));  // host bits ignored
  CHECK(rule("192.0.2.7").matches(v4(192, 0, 2, 7)));
  CHECK_FALSE(rule("192.0.2.7").matches(v4(192, 0, 2, 8)));
  CHECK(rule("198.51.100.0/23").matches(v4(198, 51, 101, 255)));
  CHECK_FALSE(rule("198.51.100.0/23").matches(v4(198, 51, 102, 0)));
  CHECK(rule("0.0.0.0/0").matches(v4(1, 2, 3, 4)));
  CHECK_FALSE(rule("0.0.0.0/0").matches(v6("2001:db8::1")));  // IPv4 ranges hold IPv4 only
  CHECK(rule("0.0.0.0/0").matches(v6("::ffff:1.2.3.4")));     // ...and IPv4 in IPv6 form
  CHECK(rule("2001:db8::/32").matches(v6("2001:db8:ffff::1")));
  CHECK_FALSE(rule("2001:db8::/32").matches(v6("2001:db9::1")));
  CHECK(rule("10.0.0.0/8").matches(name("10.2.3.4")));  // an IP literal sent as a name
  CHECK_FALSE(rule("10.0.0.0/8").matches(name("example.org")));

  CHECK(rule("example.org").matches(name("example.org")));
  CHECK(rule("example.org").matches(name("www.Example.ORG.")));
  CHECK_FALSE(rule("example.org").matches(name("badexample.org")));
  CHECK_FALSE(rule("example.org").matches(name("example.org.evil")));
  CHECK_FALSE(rule("example.org").matches(v4(93, 184, 216, 34)));
  CHECK(rule(".corp.example").matches(name("git.corp.example")));
  CHECK(rule("*.corp.example").matches(name("git.corp.example")));
  CHECK(rule("intranet").matches(name("wiki.intranet")));

  CHECK(rule_error("10.0.0.0/33") == "prefix length 33 is over 32 for an IPv4 range");
  CHECK(rule_error("::/129") == "prefix length 129 is over 128 for an IPv6 range");
  CHECK(rule_error("10.0.0.0/") == "the prefix length after '/' must be a number");
  CHECK(rule_error("10.0.0.0/x") == "the prefix length after '/' must be a number");
  CHECK(rule_error("example.org/8") ==
        R"(not a domain suffix like "example.org" or an address range like "10.0.0.0/8")");
  CHECK(rule_error("") == "empty");
  CHECK(rule_error("a..b") ==
        R"(not a domain suffix like "example.org" or an address range like "10.0.0.0/8")");
  CHECK(rule_error("http://example.org") ==
        R"(not a domain suffix like "example.org" or an address range like "10.0.0.0/8")");
}

TEST_CASE("route: block wins over direct, direct over the private rule, else proxy") {
  route::Rules rules;
  CHECK(rules.decide(v4(127, 0, 0, 1)) == Decision::kDirect);  // the default
  CHECK(rules.decide(name("example.org")) == Decision::kProxy);
  rules.private_targets = Decision::kProxy;
  CHECK(rules.decide(v4(192, 168, 1, 1)) == Decision::kProxy);
  rules.private_targets = Decision::kBlock;
  CHECK(rules.decide(v4(192, 168, 1, 1)) == Decision::kBlock);
  rules.direct = {rule("192.168.1.0/24"), rule("example.org")};
  CHECK(rules.decide(v4(192, 168, 1, 1)) == Decision::kDirect);
  CHECK(rules.decide(v4(192, 168, 2, 1)) == Decision::kBlock);
  CHECK(rules.decide(name("cdn.example.org")) == Decision::kDirect);
  rules.block = {rule("cdn.example.org")};
  CHECK(rules.decide(name("cdn.example.org")) == Decision::kBlock);
  CHECK(rules.decide(name("www.example.org")) == Decision::kDirect);
  CHECK(rules.decide(name("example.net")) == Decision::kProxy);
}

TEST_CASE("route: the [route] table, with file:line:column errors") {
  auto parsed = config::parse_profile(header(), "p.toml");
  REQUIRE(parsed.ok());
  CHECK(parsed.profile().route.private_targets == Decision::kDirect);

  parsed = config::parse_profile(header() +
                                     "[route]\nprivate = \"proxy\"\n"
                                     "direct = [\"corp.example\", \"100.64.0.0/10\"]\n"
                                     "block = [\"ads.example\"]\n",
                                 "p.toml");
  REQUIRE(parsed.ok());
  const route::Rules& rules = parsed.profile().route;
  CHECK(rules.private_targets == Decision::kProxy);
  CHECK(rules.direct.size() == 2);
  CHECK(rules.decide(v4(100, 100, 1, 1)) == Decision::kDirect);
  CHECK(rules.decide(name("x.ads.example")) == Decision::kBlock);

  auto error = [](const std::string& text) {
    auto result = config::parse_profile(header() + text, "p.toml");
    REQUIRE_FALSE(result.ok());
    return result.error();
  };
  CHECK(error("[route]\nprivate = \"bypass\"\n") ==
        R"(p.toml:6:11: route.private must be one of "direct", "proxy", "block"; got "bypass")");
  CHECK(error("[route]\ndirect = [\"10.0.0.0/8\", \"10.0.0.0/40\"]\n") ==
        R"(p.toml:6:25: route.direct entry "10.0.0.0/40": prefix length 40 is over 32 for an )"
        "IPv4 range");
  CHECK(error("[route]\nblock = \"ads.example\"\n") ==
        R"(p.toml:6:9: route.block must be a list of domain suffixes and address ranges, e.g. )"
        R"(["example.org", "10.0.0.0/8"], got "ads.example")");
  CHECK(error("[route]\nblock = [1]\n") ==
        R"(p.toml:6:10: route.block entries must be strings like "example.org" or "10.0.0.0/8", )"
        "got 1");
  CHECK(error("[route]\nbypass = [\"a.example\"]\n") ==
        R"(p.toml:6:1: unknown key "bypass" in [route] (allowed: private, direct, block))");
}

namespace {

struct CountingDialer final : outbound::Dialer {
  int calls = 0;
  Result<std::unique_ptr<transport::Stream>> dial(const TargetAddress&,
                                                  transport::StreamHandler&) override {
    ++calls;
    return Error{ErrorKind::kRefused, "counting dialer"};
  }
};

struct NullHandler final : transport::StreamHandler {
  void on_stream_connected() override {}
  void on_stream_failed(const transport::Failure&) override {}
  MutableByteView on_stream_buffer() override { return {}; }
  void on_stream_read(size_t) override {}
  void on_stream_eof() override {}
  void on_stream_write_done() override {}
  void on_stream_closed() override {}
};

}  // namespace

TEST_CASE("route: the Router proxies, goes direct or refuses with kBlocked") {
  uv_loop_t loop;
  REQUIRE(uv_loop_init(&loop) == 0);
  CountingDialer proxy;
  route::Rules rules;
  rules.block = {rule("ads.example")};
  outbound::Router router(&loop, proxy, rules);
  NullHandler handler;

  auto proxied = router.dial(name("example.org"), handler);
  CHECK(proxy.calls == 1);
  CHECK(proxied.error().kind == ErrorKind::kRefused);  // the proxy's own answer, passed on

  auto direct = router.dial(v4(127, 0, 0, 1), handler);
  REQUIRE(direct);
  CHECK(proxy.calls == 1);
  CHECK((*direct)->route() == "direct");
  direct = Error{ErrorKind::kOther, "dropped unconnected"};

  auto listed = router.dial(name("x.ads.example"), handler);
  REQUIRE_FALSE(listed);
  CHECK(listed.error().kind == ErrorKind::kBlocked);
  CHECK(listed.error().message == "refused: the target is in [route] block");

  rules.private_targets = Decision::kBlock;
  router.set_rules(rules);  // the router keeps a copy (a reload replaces it)
  auto refused = router.dial(v4(10, 0, 0, 1), handler);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().kind == ErrorKind::kBlocked);
  CHECK(refused.error().message.find("private = \"block\"") != std::string::npos);
  CHECK(proxy.calls == 1);

  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
}
