#include "harness/http_server.hpp"

#include <chrono>
#include <stdexcept>

namespace vmlocal::itest {
namespace {

constexpr std::size_t kMaxRequestHead = 64 * 1024;

}  // namespace

HttpServer::HttpServer(Family family)
    : pages_{{"/", Page{"text/html", std::string(kDefaultBody)}}},
      server_("http", family, [this](Socket& s) { serve(s); }) {}

void HttpServer::add_page(std::string path, std::string body, std::string content_type) {
  std::lock_guard lock(mutex_);
  pages_[std::move(path)] = Page{std::move(content_type), std::move(body)};
}

std::vector<std::string> HttpServer::requested_paths() const {
  std::lock_guard lock(mutex_);
  return requested_;
}

std::string HttpServer::url(std::string_view path) const {
  return "http://" + endpoint().to_string() + std::string(path);
}

void HttpServer::serve(Socket& s) {
  std::string head;
  std::uint8_t buf[4096];
  while (head.find("\r\n\r\n") == std::string::npos) {
    std::size_t n = s.recv_some(buf, Deadline::after(TcpServer::kIoTimeout));
    if (n == 0) throw std::runtime_error("EOF inside the request head");
    head.append(reinterpret_cast<const char*>(buf), n);
    if (head.size() > kMaxRequestHead) throw std::runtime_error("request head too large");
  }

  // "GET /path HTTP/1.1"
  auto line_end = head.find("\r\n");
  std::string_view line(head.data(), line_end);
  auto sp1 = line.find(' ');
  auto sp2 = line.rfind(' ');
  if (sp1 == std::string_view::npos || sp2 <= sp1) throw std::runtime_error("bad request line");
  std::string method(line.substr(0, sp1));
  std::string target(line.substr(sp1 + 1, sp2 - sp1 - 1));

  std::string status = "200 OK";
  Page page;
  {
    std::lock_guard lock(mutex_);
    requested_.push_back(target);
    auto it = pages_.find(target);
    if (method != "GET" && method != "HEAD") {
      status = "405 Method Not Allowed";
      page = Page{"text/plain", "method not allowed\n"};
    } else if (it == pages_.end()) {
      status = "404 Not Found";
      page = Page{"text/plain", "not found\n"};
    } else {
      page = it->second;
    }
  }

  std::string response = "HTTP/1.1 " + status + "\r\nContent-Type: " + page.content_type +
                         "\r\nContent-Length: " + std::to_string(page.body.size()) +
                         "\r\nConnection: close\r\n\r\n";
  if (method != "HEAD") response += page.body;
  s.send_all(response, Deadline::after(TcpServer::kIoTimeout));
  s.shutdown_write();
  // Wait briefly for the client to close: closing with unread bytes (a pipelined request)
  // would send RST, which can destroy the response before the client has read it.
  try {
    s.recv_until_eof(Deadline::after(std::chrono::seconds(2)), kMaxRequestHead);
  } catch (const SocketError&) {
    // the client reset or lingered: the response is out either way
  }
}

}  // namespace vmlocal::itest
