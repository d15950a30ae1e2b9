// A minimal HTTP/1.1 server: one request per connection, Connection: close. Enough for curl and
// for browser-style tests that fetch a page and its resources through the proxy.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "harness/tcp_server.hpp"

namespace vmlocal::itest {

class HttpServer {
 public:
  struct Page {
    std::string content_type;
    std::string body;
  };

  // Serves kDefaultBody at "/" until pages are added.
  static constexpr std::string_view kDefaultBody =
      "<!doctype html><title>vmess-local test</title><p>hello through the tunnel</p>\n";

  explicit HttpServer(Family family = Family::kV4);

  // Adds or replaces a page; safe while the server runs.
  void add_page(std::string path, std::string body, std::string content_type = "text/html");

  const Endpoint& endpoint() const { return server_.endpoint(); }
  uint16_t port() const { return server_.port(); }
  uint64_t accepted() const { return server_.accepted(); }
  std::vector<std::string> errors() const { return server_.errors(); }
  // The request target of every request so far, in arrival order.
  std::vector<std::string> requested_paths() const;
  // "http://127.0.0.1:PORT/path" (brackets for IPv6).
  std::string url(std::string_view path = "/") const;

 private:
  void serve(Socket& s);

  mutable std::mutex mutex_;
  std::map<std::string, Page, std::less<>> pages_;
  std::vector<std::string> requested_;
  TcpServer server_;  // last: its threads stop before the members above are destroyed
};

}  // namespace vmlocal::itest
