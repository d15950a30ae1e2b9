// One port, several protocols, against the real v2ray 4.34 with clients no one here wrote:
// curl as an HTTP proxy client (GET, a 16 MiB POST checked by SHA-256 at the origin, a chunked
// POST, CONNECT to an HTTPS origin, keep-alive and a change of host, Basic credentials and the
// 407), curl's SOCKS4 and SOCKS4a, git cloning over http through http.proxy, and headless
// Chromium with an HTTP proxy. The origin is python3's http.server (harness/http_origin.py),
// HTTP/1.1 with keep-alive, logging what each request looked like when it arrived.
#include <doctest/doctest.h>

#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "harness/harness.hpp"

using namespace vmlocal::itest;
using namespace std::chrono_literals;

namespace {

// Every profile of this suite is built here. These tests reach loopback origins, and must do
// so through the VMess server (the product's default sends private targets direct).
VmessLocalProfile profile_for(const V2rayServer& v2ray,
                              const std::function<void(VmessLocalProfile&)>& adjust = {}) {
  auto p = VmessLocalProfile::for_server(v2ray);
  p.route_private = "proxy";
  p.log_level = "debug";
  if (adjust) adjust(p);
  return p;
}

struct Setup {
  TempDir dir;
  V2rayServer v2ray;
  VmessLocal local;
  explicit Setup(const std::function<void(VmessLocalProfile&)>& adjust = {})
      : v2ray(V2rayServer::vmess(dir)), local(dir, profile_for(v2ray, adjust)) {}
  std::string proxy() const { return local.socks_endpoint().to_string(); }
};

// harness/http_origin.py on a kernel-chosen loopback port.
struct Origin {
  TempDir dir{"origin"};
  std::filesystem::path root = dir.path() / "www";
  std::filesystem::path log = dir.file("requests.jsonl");
  std::optional<Process> process;
  uint16_t port = 0;
  bool tls = false;

  explicit Origin(const std::vector<std::string>& tls_files = {}) {
    std::filesystem::create_directories(root);
    std::vector<std::string> args = {"python3", VMLOCAL_ITEST_DIR "/harness/http_origin.py",
                                     "--root",  root.string(),
                                     "--log",   log.string()};
    if (!tls_files.empty()) {
      tls = true;
      args.insert(args.end(), {"--cert", tls_files[0], "--key", tls_files[1]});
    }
    process.emplace(args, dir.file("origin.log"));
    REQUIRE_MESSAGE(process->wait_for_log("PORT ", Deadline::after(15s)), process->log_text());
    const std::string text = process->log_text();
    port = static_cast<uint16_t>(std::stoi(text.substr(text.find("PORT ") + 5)));
  }
  void add(const std::string& path, const std::string& body) {
    std::filesystem::create_directories((root / path).parent_path());
    std::ofstream(root / path, std::ios::binary) << body;
  }
  std::string url(const std::string& host, const std::string& path) const {
    return std::string(tls ? "https://" : "http://") + host + ":" + std::to_string(port) + path;
  }
  std::vector<nlohmann::json> requests() const {
    std::vector<nlohmann::json> out;
    std::ifstream in(log);
    for (std::string line; std::getline(in, line);)
      out.push_back(nlohmann::json::parse(line));
    return out;
  }
};

std::string random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s)
    c = static_cast<char>(rng());
  return s;
}

std::string hex_sha256(std::string_view data) {
  return to_hex(sha256(std::span(reinterpret_cast<const std::uint8_t*>(data.data()), data.size())));
}

CommandResult curl(const std::vector<std::string>& args) {
  std::vector<std::string> all = {"curl", "-sS", "--max-time", "60"};
  all.insert(all.end(), args.begin(), args.end());
  return run_command(all, Deadline::after(90s), {{"http_proxy", ""}, {"HTTPS_PROXY", ""}});
}

bool has_header(const nlohmann::json& request, const std::string& name) {
  for (const auto& h : request["headers"])
    if (h == name) return true;
  return false;
}

}  // namespace

TEST_SUITE("inbound_protocols") {
  TEST_CASE("curl -x http:// GET: origin-form at the origin, hop-by-hop fields removed") {
    Setup s;
    Origin origin;
    origin.add("index.html", "hello over the http proxy\n");
    auto r = curl({"-x", "http://" + s.proxy(), "-H", "Proxy-Connection: keep-alive", "-H",
                   "Connection: X-Secret-Hop", "-H", "X-Secret-Hop: 1",
                   origin.url("127.0.0.1", "/index.html")});
    REQUIRE_MESSAGE(r.success(), r.describe() << "\n" << s.local.log_text());
    CHECK(r.out == "hello over the http proxy\n");
    const auto requests = origin.requests();
    REQUIRE(requests.size() == 1);
    CHECK(requests[0]["target"] == "/index.html");
    CHECK(requests[0]["host"] == "127.0.0.1:" + std::to_string(origin.port));
    CHECK_FALSE(has_header(requests[0], "proxy-connection"));
    CHECK_FALSE(has_header(requests[0], "x-secret-hop"));
    // The summary counts the request head the proxy consumed and the outbound carried.
    REQUIRE(s.local.wait_for_log(": up ", Deadline::after(10s)));
    const std::string log = s.local.log_text();
    const size_t at = log.find(": up ") + 5;
    const uint64_t up = std::stoull(log.substr(at, log.find(' ', at) - at));
    const std::string request_line =
        "GET " + origin.url("127.0.0.1", "/index.html") + " HTTP/1.1\r\n";
    CHECK(up > request_line.size());
  }

  TEST_CASE("curl -x http:// POST of 16 MiB and a chunked POST: the origin's SHA-256 matches") {
    Setup s;
    Origin origin;
    const std::string body = random_bytes(16u << 20, 11);
    const auto file = s.dir.write_file("body.bin", body);
    auto r = curl({"-x", "http://" + s.proxy(), "--data-binary", "@" + file.string(),
                   origin.url("127.0.0.1", "/sha256")});
    REQUIRE_MESSAGE(r.success(), r.describe() << "\n" << s.local.log_text());
    CHECK(r.out == std::to_string(body.size()) + " " + hex_sha256(body) + "\n");

    const std::string small = random_bytes(3u << 20, 12);
    const auto small_file = s.dir.write_file("small.bin", small);
    r = curl({"-x", "http://" + s.proxy(), "-H", "Transfer-Encoding: chunked", "--data-binary",
              "@" + small_file.string(), origin.url("localhost", "/sha256")});
    REQUIRE_MESSAGE(r.success(), r.describe() << "\n" << s.local.log_text());
    CHECK(r.out == std::to_string(small.size()) + " " + hex_sha256(small) + "\n");
  }

  TEST_CASE("keep-alive to one origin, a new tunnel for another, in one curl run") {
    Setup s;
    Origin a, b;
    a.add("1.txt", "a1\n");
    a.add("2.txt", "a2\n");
    b.add("3.txt", "b3\n");
    auto r = curl({"-x", "http://" + s.proxy(), a.url("127.0.0.1", "/1.txt"),
                   a.url("127.0.0.1", "/2.txt"), b.url("127.0.0.1", "/3.txt"),
                   a.url("127.0.0.1", "/1.txt")});
    REQUIRE_MESSAGE(r.success(), r.describe() << "\n" << s.local.log_text());
    CHECK(r.out == "a1\na2\nb3\na1\n");
    const auto ra = a.requests();
    const auto rb = b.requests();
    REQUIRE(ra.size() == 3);
    REQUIRE(rb.size() == 1);
    // The first two went over one connection to the origin (keep-alive kept), the last one,
    // after the switch to b, over a new one.
    CHECK(ra[0]["peer_port"] == ra[1]["peer_port"]);
    CHECK(ra[2]["peer_port"] != ra[0]["peer_port"]);
    CHECK(s.local.log_text().find("the app's next request on this connection goes to 127.0.0.1:" +
                                  std::to_string(b.port)) != std::string::npos);
  }

  TEST_CASE("curl CONNECT to an HTTPS origin with its own certificate") {
    Setup s;
    const Certificate made = make_certificate(s.dir, "origin");
    const auto &cert = made.cert, &key = made.key;
    Origin origin({cert.string(), key.string()});
    origin.add("secret.txt", "over tls, through CONNECT\n");
    auto r = curl({"-x", "http://" + s.proxy(), "--cacert", cert.string(),
                   origin.url("localhost", "/secret.txt")});
    REQUIRE_MESSAGE(r.success(), r.describe() << "\n" << s.local.log_text());
    CHECK(r.out == "over tls, through CONNECT\n");
    CHECK(
        s.local.wait_for_log("-> localhost:" + std::to_string(origin.port), Deadline::after(10s)));
  }

  TEST_CASE("credentials: curl -x http://user:pass@ passes, none gets 407, SOCKS4 is refused") {
    Setup s([](VmessLocalProfile& p) { p.credentials = Socks5Credentials{"alice", "s3cret"}; });
    Origin origin;
    origin.add("a.txt", "authorized\n");
    auto r = curl({"-x", "http://alice:s3cret@" + s.proxy(), origin.url("127.0.0.1", "/a.txt")});
    REQUIRE_MESSAGE(r.success(), r.describe() << "\n" << s.local.log_text());
    CHECK(r.out == "authorized\n");
    // The origin never sees the proxy's credentials.
    CHECK_FALSE(has_header(origin.requests().at(0), "proxy-authorization"));

    r = curl({"-i", "-x", "http://" + s.proxy(), origin.url("127.0.0.1", "/a.txt")});
    CHECK(r.out.rfind("HTTP/1.1 407 Proxy Authentication Required\r\n", 0) == 0);
    CHECK(r.out.find("Proxy-Authenticate: Basic realm=\"vmess-local\"") != std::string::npos);
    r = curl({"-i", "-x", "http://alice:wrong@" + s.proxy(), origin.url("127.0.0.1", "/a.txt")});
    CHECK(r.out.rfind("HTTP/1.1 407", 0) == 0);
    r = curl({"-i", "-p", "-x", "http://" + s.proxy(), origin.url("127.0.0.1", "/a.txt")});
    CHECK(r.out.find("407") != std::string::npos);
    CHECK(s.local.wait_for_log("wrong proxy credentials", Deadline::after(5s)));
    CHECK(s.local.log_text().find("s3cret") == std::string::npos);
    CHECK(s.local.log_text().find("wrong@") == std::string::npos);

    r = curl({"--socks4", s.proxy(), origin.url("127.0.0.1", "/a.txt")});
    CHECK_FALSE(r.success());
    CHECK(s.local.wait_for_log("SOCKS4 cannot carry a password", Deadline::after(5s)));
    CHECK(origin.requests().size() == 1);
  }

  TEST_CASE("curl --socks4 (IPv4 target) and --socks4a (name resolved at the server)") {
    Setup s;
    Origin origin;
    origin.add("s4.txt", "socks4 works\n");
    auto r = curl({"--socks4", s.proxy(), origin.url("127.0.0.1", "/s4.txt")});
    REQUIRE_MESSAGE(r.success(), r.describe() << "\n" << s.local.log_text());
    CHECK(r.out == "socks4 works\n");
    r = curl({"--socks4a", s.proxy(), origin.url("localhost", "/s4.txt")});
    REQUIRE_MESSAGE(r.success(), r.describe() << "\n" << s.local.log_text());
    CHECK(r.out == "socks4 works\n");
    CHECK(
        s.local.wait_for_log("-> localhost:" + std::to_string(origin.port), Deadline::after(10s)));
    CHECK(origin.requests().size() == 2);
  }

  TEST_CASE("git clone over http through http.proxy") {
    Setup s;
    Origin origin;
    TempDir work("git-work");
    const std::string src = (work.path() / "src").string();
    const std::string bare = (origin.root / "repo.git").string();
    const EnvVars env = {
        {"HOME", work.path().string()}, {"GIT_CONFIG_NOSYSTEM", "1"},
        {"GIT_AUTHOR_NAME", "t"},       {"GIT_AUTHOR_EMAIL", "t@example.invalid"},
        {"GIT_COMMITTER_NAME", "t"},    {"GIT_COMMITTER_EMAIL", "t@example.invalid"}};
    auto git = [&](std::vector<std::string> args) {
      args.insert(args.begin(), "git");
      auto r = run_command(args, Deadline::after(90s), env);
      REQUIRE_MESSAGE(r.success(), r.describe() << "\n" << s.local.log_text());
      return r;
    };
    git({"init", "-q", src});
    const std::string payload = to_hex(sha256(
        std::span(reinterpret_cast<const std::uint8_t*>("x"), 1)));  // a file whose content we know
    std::ofstream(std::filesystem::path(src) / "README") << payload << "\n";
    git({"-C", src, "add", "README"});
    git({"-C", src, "commit", "-q", "-m", "first"});
    git({"clone", "-q", "--bare", src, bare});
    git({"-C", bare, "update-server-info"});  // git's dumb http protocol
    const std::string dst = (work.path() / "dst").string();
    git({"-c", "http.proxy=http://" + s.proxy(), "clone", "-q",
         origin.url("127.0.0.1", "/repo.git"), dst});
    std::ifstream in(std::filesystem::path(dst) / "README");
    std::string line;
    std::getline(in, line);
    CHECK(line == payload);
    CHECK(origin.requests().size() >= 3);  // info/refs, HEAD, objects...
    CHECK(
        s.local.wait_for_log("-> 127.0.0.1:" + std::to_string(origin.port), Deadline::after(10s)));
  }

  TEST_CASE("headless Chromium with --proxy-server=http:// loads a page of many subresources") {
    Setup s;
    Origin origin;
    constexpr int kCount = 40;
    std::string page = "<!doctype html><body><div id=marks></div>";
    for (int i = 0; i < kCount; ++i) {
      const std::string n = std::to_string(i);
      page += "<img src=\"/img/" + n + ".svg\" onload=\"document.getElementById('marks')." +
              "insertAdjacentText('beforeend','img" + n + ";')\"><script src=\"/js/" + n +
              ".js\"></script>";
      origin.add("img/" + n + ".svg",
                 "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"4\" height=\"4\"/>");
      origin.add("js/" + n + ".js",
                 "document.getElementById('marks').insertAdjacentText("
                 "'beforeend', 'js" +
                     n + ";');\n");
    }
    origin.add("index.html", page + "</body>");
    const CommandResult r =
        load_with_chromium("http://" + s.proxy(), origin.url("localhost", "/index.html"));
    REQUIRE_MESSAGE(r.success(), r.describe() << "\n" << s.local.log_text());
    for (int i = 0; i < kCount; ++i) {
      CAPTURE(i);
      CHECK(r.out.find("img" + std::to_string(i) + ";") != std::string::npos);
      CHECK(r.out.find("js" + std::to_string(i) + ";") != std::string::npos);
    }
    CHECK(origin.requests().size() >= 2 * kCount + 1);
    // Through the proxy, not around it.
    CHECK(
        s.local.wait_for_log("-> localhost:" + std::to_string(origin.port), Deadline::after(10s)));
    CHECK(s.local.process().alive());
  }

  TEST_CASE(
      "a plain GET the server drops (its routing blackholes the target): 502, both causes "
      "named") {
    Setup s;
    // The harness's v2ray blackholes every target but loopback; .invalid never resolves anyway.
    auto r = curl({"-i", "-x", "http://" + s.proxy(), "http://dropped.invalid/x"});
    INFO(r.describe() << "\n" << s.local.log_text());
    CHECK(r.out.rfind("HTTP/1.1 502 Bad Gateway\r\n", 0) == 0);
    CHECK(r.out.find("closed before any response (the server dropped the request, or the origin "
                     "closed it)") != std::string::npos);
    CHECK(
        s.local.wait_for_log("http forwarding: 502 Bad Gateway: the connection to "
                             "dropped.invalid:80 closed before any response",
                             Deadline::after(5s)));
    CHECK(s.local.log_text().find("origin's connection closed") == std::string::npos);
    CHECK(s.local.process().alive());
  }

  TEST_CASE("the server unreachable: CONNECT and GET get 502 Bad Gateway") {
    TempDir dir;
    Socket closed = Socket::listen(Endpoint::loopback(Family::kV4), 1);
    auto p = VmessLocalProfile{};
    p.server_port = closed.local_endpoint().port;
    closed.close();  // nothing listens there now: connection refused
    p.uuid = random_uuid();
    VmessLocal local(dir, p);
    const std::string proxy = local.socks_endpoint().to_string();
    auto r = curl({"-i", "-x", "http://" + proxy, "http://127.0.0.1:9/x"});
    CHECK(r.out.rfind("HTTP/1.1 502 Bad Gateway\r\n", 0) == 0);
    r = curl({"-x", "http://" + proxy, "-w", "%{http_connect}", "https://127.0.0.1:9/x"});
    CHECK(r.out == "502");
    CHECK(local.wait_for_log("(reply: 502 Bad Gateway)", Deadline::after(5s)));
  }

  TEST_CASE("what the port cannot answer: 400 with a reason, TLS and unknown bytes logged") {
    Setup s;
    const auto deadline = Deadline::after(15s);
    {
      Socket c = Socket::connect(s.local.socks_endpoint(), deadline);
      c.send_all("GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n", deadline);
      const std::string reply = c.recv_text_until_eof(deadline);
      CHECK(reply.rfind("HTTP/1.1 400 Bad Request\r\n", 0) == 0);
      CHECK(reply.find("this port is a proxy") != std::string::npos);
    }
    {
      Socket c = Socket::connect(s.local.socks_endpoint(), deadline);
      c.send_all(std::string("\x16\x03\x01\x00\x05hello", 10), deadline);
      CHECK(c.recv_text_until_eof(deadline).empty());
      CHECK(s.local.wait_for_log("an HTTPS/TLS client connected to the proxy port", deadline));
    }
    {
      Socket c = Socket::connect(s.local.socks_endpoint(), deadline);
      c.send_all(std::string("\x01\x02\x03\x04\x05\x06", 6), deadline);
      CHECK(c.recv_text_until_eof(deadline).empty());
      CHECK(s.local.wait_for_log("unknown protocol (first bytes 01 02 03 04)", deadline));
    }
    {
      Socket c = Socket::connect(s.local.socks_endpoint(), deadline);
      c.send_all("GET http://127.0.0.1:1/ HTTP/1.1\r\n" + std::string(40000, 'a'), deadline);
      const std::string reply = c.recv_text_until_eof(deadline);
      CHECK(reply.rfind("HTTP/1.1 431 Request Header Fields Too Large\r\n", 0) == 0);
    }
    CHECK(s.local.process().alive());
  }

  TEST_CASE("[local] protocols narrows the set, and the log names the key") {
    Setup s([](VmessLocalProfile& p) { p.protocols = {"socks5"}; });
    Origin origin;
    origin.add("a.txt", "a\n");
    auto r = curl({"-x", "http://" + s.proxy(), origin.url("127.0.0.1", "/a.txt")});
    CHECK_FALSE(r.success());
    CHECK(s.local.wait_for_log("\"http\" is not in [local] protocols", Deadline::after(5s)));
    r = curl({"--socks4", s.proxy(), origin.url("127.0.0.1", "/a.txt")});
    CHECK_FALSE(r.success());
    CHECK(s.local.wait_for_log("\"socks4\" is not in [local] protocols", Deadline::after(5s)));
    r = curl({"--socks5", s.proxy(), origin.url("127.0.0.1", "/a.txt")});
    REQUIRE_MESSAGE(r.success(), r.describe() << "\n" << s.local.log_text());
    CHECK(r.out == "a\n");
    // UDP ASSOCIATE comes with SOCKS5 ([local] udp is on by default).
    CHECK(s.local.log_text().find("(SOCKS5 with UDP); server") != std::string::npos);
  }
}
