// The environment's proxy for a fetch (src/cli/env_proxy.hpp): which variable libcurl takes for
// which URL, the value's forms, and whether it names this process's own listener.
#include <doctest/doctest.h>

#include <map>
#include <string>

#include "src/cli/env_proxy.hpp"

using vmlocal::cli::env_proxy_for;
using vmlocal::cli::EnvProxy;
using vmlocal::cli::names_own_listener;
using vmlocal::config::ListenEndpoint;

namespace {

auto env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> const char* {
    const auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
}

}  // namespace

TEST_CASE("env proxy: the variable libcurl takes for each scheme") {
  const auto all = env({{"http_proxy", "http://127.0.0.1:1080"},
                        {"HTTP_PROXY", "http://10.0.0.1:1"},
                        {"https_proxy", "http://127.0.0.1:1443"},
                        {"ALL_PROXY", "socks5h://127.0.0.1:9050"}});
  CHECK(env_proxy_for("http://sub.example/x", all)->variable == "http_proxy");
  CHECK(env_proxy_for("HTTPS://sub.example/x", all)->port == 1443);
  // HTTP_PROXY (upper case) is never taken for http://: libcurl refuses it (CGI's HTTP_ header).
  const auto upper = env({{"HTTP_PROXY", "http://10.0.0.1:1"}, {"ALL_PROXY", "127.0.0.1:9050"}});
  CHECK(env_proxy_for("http://sub.example/", upper)->variable == "ALL_PROXY");
  CHECK(env_proxy_for("https://sub.example/", env({{"HTTPS_PROXY", "h:3"}}))->host == "h");
  CHECK_FALSE(env_proxy_for("https://sub.example/", env({{"http_proxy", "h:3"}})));
  CHECK_FALSE(env_proxy_for("http://sub.example/", env({{"http_proxy", ""}})));
}

TEST_CASE("env proxy: the value's forms, user info left out") {
  const auto host_port = [](const std::string& value) {
    const auto proxy = env_proxy_for("http://x/", env({{"http_proxy", value}}));
    return proxy ? proxy->to_string() : std::string("none");
  };
  CHECK(host_port("http://127.0.0.1:1080") == "127.0.0.1:1080");
  CHECK(host_port("http://user:s3cret@127.0.0.1:1080/") == "127.0.0.1:1080");
  CHECK(host_port("127.0.0.1:8080") == "127.0.0.1:8080");
  CHECK(host_port("socks5h://[::1]:1080") == "[::1]:1080");
  CHECK(host_port("http://proxy.example") == "proxy.example:1080");  // libcurl's default port
  CHECK(host_port("http://:1080") == "none");
  CHECK(host_port("http://h:99999") == "none");
}

TEST_CASE("env proxy: naming this process's own listener") {
  const auto proxy = [](std::string host, uint16_t port) {
    return EnvProxy{"http_proxy", std::move(host), port};
  };
  const std::vector<ListenEndpoint> loopback = {{"127.0.0.1", 1080}};
  CHECK(names_own_listener(proxy("127.0.0.1", 1080), loopback));
  CHECK(names_own_listener(proxy("localhost", 1080), loopback));
  CHECK(names_own_listener(proxy("::1", 1080), loopback));
  CHECK_FALSE(names_own_listener(proxy("127.0.0.1", 1081), loopback));
  CHECK_FALSE(names_own_listener(proxy("proxy.example", 1080), loopback));
  const std::vector<ListenEndpoint> wildcard = {{"0.0.0.0", 1080}};
  CHECK(names_own_listener(proxy("127.0.0.1", 1080), wildcard));
  const std::vector<ListenEndpoint> lan = {{"192.168.1.5", 1080}};
  CHECK(names_own_listener(proxy("192.168.1.5", 1080), lan));
  CHECK_FALSE(names_own_listener(proxy("127.0.0.1", 1080), lan));
  CHECK_FALSE(names_own_listener(proxy("127.0.0.1", 1080), {}));
}
