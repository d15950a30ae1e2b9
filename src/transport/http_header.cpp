#include "vmlocal/transport/http_header.hpp"

#include <string_view>

namespace vmlocal::transport::http_header {
namespace {

constexpr std::string_view kHttpPrefix = "HTTP/";
constexpr std::string_view kEnding = "\r\n\r\n";

// v2ray's pickString: the only entry, or one drawn uniformly.
template <typename List>
std::string_view pick(const List& list, size_t size, crypto::Random& random) {
  if (size == 1) return list[0];
  return list[random.uniform(static_cast<uint32_t>(size))];
}

std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 60))
    out += (c >= 0x20 && c < 0x7F) ? c : '?';
  return out;
}

}  // namespace

std::string build_request_head(const RequestOptions& options, crypto::Random& random) {
  const std::string_view path = options.paths.empty()
                                    ? std::string_view("/")
                                    : pick(options.paths, options.paths.size(), random);
  const std::string_view host = options.hosts.empty()
                                    ? pick(kDefaultHosts, std::size(kDefaultHosts), random)
                                    : pick(options.hosts, options.hosts.size(), random);
  const std::string_view agent = pick(kDefaultUserAgents, std::size(kDefaultUserAgents), random);
  std::string out;
  out.reserve(320);
  out += "GET ";
  out += path;
  out += " HTTP/1.1\r\nHost: ";
  out += host;
  out += "\r\nUser-Agent: ";
  out += agent;
  out += "\r\nAccept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\nPragma: no-cache\r\n\r\n";
  return out;
}

ResponseHeadReader::Step ResponseHeadReader::fail(std::string why) {
  if (error_.empty()) error_ = std::move(why);
  return Step{Status::kError, 0};
}

ResponseHeadReader::Step ResponseHeadReader::feed(ByteView bytes) {
  if (!error_.empty()) return fail({});
  if (done_) return Step{Status::kDone, 0};
  for (size_t i = 0; i < bytes.size(); ++i) {
    const char c = static_cast<char>(bytes[i]);
    // Refuse anything that is not HTTP from its first bytes: a server without the header
    // answers with the binary VMess response and then waits.
    if (seen_ < kHttpPrefix.size() && c != kHttpPrefix[seen_]) {
      return fail(
          "the server's answer is not HTTP (is [server.tcp] header = \"http\" set on the "
          "server too?)");
    }
    ++seen_;
    if (!status_line_done_) {
      if (c == '\n') {
        status_line_done_ = true;
        std::string_view line = line_;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        // "HTTP/1.1 200 OK"
        const size_t sp = line.find(' ');
        if (sp != std::string_view::npos && line.size() >= sp + 4) {
          int code = 0;
          bool digits = true;
          for (char d : line.substr(sp + 1, 3)) {
            digits = digits && d >= '0' && d <= '9';
            code = code * 10 + (d - '0');
          }
          if (digits) status_code_ = code;
          if (line.size() > sp + 5) reason_ = printable(line.substr(sp + 5));
        }
      } else {
        line_ += c;
      }
    }
    match_ = (c == kEnding[match_]) ? match_ + 1 : (c == '\r' ? 1 : 0);
    if (match_ == kEnding.size()) {
      done_ = true;
      line_.clear();
      line_.shrink_to_fit();
      return Step{Status::kDone, i + 1};
    }
    if (seen_ >= kMaxHead) {
      return fail("the server's HTTP response head is longer than " + std::to_string(kMaxHead) +
                  " bytes");
    }
  }
  return Step{Status::kNeedMore, bytes.size()};
}

}  // namespace vmlocal::transport::http_header
