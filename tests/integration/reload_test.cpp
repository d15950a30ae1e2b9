// Reloading the profile on SIGHUP, against the real v2ray: new tunnels use the new profile while
// live ones keep theirs (a 256 MiB download started before a security change finishes intact);
// a broken profile is refused with file:line:column and the old one keeps serving; listeners
// that did not change never refuse a connection, changed ones move; `[local] workers` is
// logged and ignored; a changed server moves new tunnels while an unchanged one keeps its
// counters.
#include <doctest/doctest.h>
#include <signal.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <future>
#include <mutex>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "echo_tunnel.hpp"
#include "harness/harness.hpp"

using namespace vmlocal::itest;
using namespace std::chrono_literals;

namespace {

// A relay in front of the VMess server that says, per connection, whether a marker crossed it
// in the clear on the uplink (looked for in each connection's first 64 KiB). With VMess
// security "none" the app's bytes are on the wire as they are; with aes-128-gcm they are not:
// which security a tunnel used shows here.
class RecordingRelay {
 public:
  RecordingRelay(Endpoint upstream, std::string marker)
      : upstream_(std::move(upstream)),
        marker_(std::move(marker)),
        server_("recording relay", Family::kV4, [this](Socket& client) { relay(client); }) {}

  const Endpoint& endpoint() const { return server_.endpoint(); }
  uint64_t accepted() const { return server_.accepted(); }
  // Connections in accept order: whether the marker was seen in the clear.
  std::vector<bool> clear_marker() const {
    std::lock_guard lock(mu_);
    return clear_;
  }

 private:
  void relay(Socket& client) {
    size_t index = 0;
    {
      std::lock_guard lock(mu_);
      index = clear_.size();
      clear_.push_back(false);
    }
    Socket upstream = Socket::connect(upstream_, Deadline::after(10s));
    std::thread down([&] {
      std::vector<uint8_t> buf(64 * 1024);
      try {
        for (;;) {
          const size_t n = upstream.recv_some(buf, Deadline::after(120s));
          if (n == 0) break;
          client.send_all(std::span(buf.data(), n), Deadline::after(120s));
        }
        client.shutdown_write();
      } catch (const std::exception&) {
        client.shutdown_both();
      }
    });
    std::vector<uint8_t> buf(64 * 1024);
    std::string head;  // the uplink's first 64 KiB
    try {
      for (;;) {
        const size_t n = client.recv_some(buf, Deadline::after(120s));
        if (n == 0) break;
        if (head.size() < 64 * 1024) {
          head.append(reinterpret_cast<const char*>(buf.data()), n);
          if (head.find(marker_) != std::string::npos) {
            std::lock_guard lock(mu_);
            clear_[index] = true;
          }
        }
        upstream.send_all(std::span(buf.data(), n), Deadline::after(120s));
      }
      upstream.shutdown_write();
    } catch (const std::exception&) {
      upstream.shutdown_both();
    }
    down.join();
  }

  Endpoint upstream_;
  std::string marker_;
  mutable std::mutex mu_;
  std::vector<bool> clear_;
  TcpServer server_;  // last: its threads use the members above
};

// Whether a tunnel carrying `marker` crossed `relay` in the clear (the newest connection).
bool marker_in_clear(RecordingRelay& relay, const Endpoint& proxy, const EchoServer& echo,
                     const std::string& marker, Deadline deadline) {
  const uint64_t before = relay.accepted();
  Socks5Result r = Socks5Client(proxy).connect(Socks5Target::to(echo.endpoint()), deadline);
  REQUIRE(r.ok());
  echo_check(r.socket, marker, deadline);
  REQUIRE(relay.accepted() > before);
  r.socket.close();
  // Any connection: with warm connections (the default) the tunnel's is not always the last
  // one accepted (the pool refills behind it), and only this call sends the marker.
  const std::vector<bool> clear = relay.clear_marker();
  return std::find(clear.begin(), clear.end(), true) != clear.end();
}

// A subscription endpoint the test controls: every request gets the current status and body.
class SubscriptionServer {
 public:
  SubscriptionServer()
      : server_("subscription server", Family::kV4, [this](Socket& s) { serve(s); }) {}
  ~SubscriptionServer() { hang(false); }
  SubscriptionServer(const SubscriptionServer&) = delete;
  SubscriptionServer& operator=(const SubscriptionServer&) = delete;
  void set(int status, std::string body) {
    std::lock_guard lock(mu_);
    status_ = status;
    body_ = std::move(body);
  }
  // While on, a request is read and never answered (a stalled provider).
  void hang(bool on) {
    {
      std::lock_guard lock(mu_);
      hanging_ = on;
    }
    released_.notify_all();
  }
  uint64_t requests() const { return requests_; }
  std::string url(std::string_view path) const {
    return "http://" + server_.endpoint().to_string() + std::string(path);
  }

 private:
  void serve(Socket& s) {
    std::string head;
    std::array<uint8_t, 4096> buf{};
    while (head.find("\r\n\r\n") == std::string::npos) {
      const size_t n = s.recv_some(buf, Deadline::after(10s));
      if (n == 0) return;
      head.append(reinterpret_cast<const char*>(buf.data()), n);
    }
    ++requests_;
    std::string response;
    {
      std::unique_lock lock(mu_);
      released_.wait_for(lock, 60s, [this] { return !hanging_; });
      response = "HTTP/1.1 " + std::to_string(status_) + (status_ == 200 ? " OK" : " Not Found") +
                 "\r\nContent-Type: text/plain\r\n" +
                 "Content-Length: " + std::to_string(body_.size()) +
                 "\r\nConnection: close\r\n\r\n" + body_;
    }
    s.send_all(response, Deadline::after(10s));
  }

  mutable std::mutex mu_;
  std::condition_variable released_;
  bool hanging_ = false;
  int status_ = 404;
  std::string body_;
  std::atomic<uint64_t> requests_{0};
  TcpServer server_;
};

std::string base64(std::string_view text) {
  auto r = run_command({"sh", "-c", "printf %s \"$0\" | base64 -w0", std::string(text)},
                       Deadline::after(10s));
  REQUIRE(r.success());
  return r.out;
}

// A provider's subscription: one link per line (the URI form), base64 as a whole.
std::string subscription_for(const V2rayServer& server, const std::string& name) {
  return base64("vmess://" + server.uuid() + "@127.0.0.1:" + std::to_string(server.port()) +
                "?type=tcp&encryption=aes-128-gcm#" + name + "\n");
}

size_t wait_for_count(const Process& process, std::string_view needle, size_t at_least,
                      Deadline deadline) {
  size_t n = 0;
  while ((n = count_of(process.log_text(), needle)) < at_least && !deadline.expired())
    std::this_thread::sleep_for(20ms);
  return n;
}

// The "M total" of `server` from the counters logged on SIGUSR1 (0 when it is not listed).
uint64_t process_tunnels_total(Process& process, const std::string& server, Deadline deadline) {
  const size_t before = count_of(process.log_text(), "INFO  server \"");
  process.signal(SIGUSR1);
  wait_for_count(process, "INFO  server \"", before + 1, deadline);
  std::this_thread::sleep_for(50ms);  // every server's line
  const std::string log = process.log_text();
  const std::regex line("server \"" + server + "\": [^;]*; tunnels ([0-9]+) open, ([0-9]+) total");
  uint64_t last = 0;
  for (auto it = std::sregex_iterator(log.begin(), log.end(), line); it != std::sregex_iterator();
       ++it) {
    last = std::stoull((*it)[2].str());
  }
  return last;
}

}  // namespace

TEST_SUITE("reload") {
  TEST_CASE(
      "reload: a changed security moves new tunnels to it while a 256 MiB download started "
      "before finishes intact") {
    const auto deadline = Deadline::after(240s);
    TempDir dir;
    EchoServer echo;
    SourceServer source;
    V2rayServer server = V2rayServer::vmess(dir);
    const std::string marker = "reload-marker-7f3a9c1e-in-the-clear";
    RecordingRelay relay(server.endpoint(), marker);
    auto profile = VmessLocalProfile::for_server(server);
    profile.server_port = relay.endpoint().port;
    profile.security = "aes-128-gcm";
    VmessLocal local(dir, profile);
    profile = local.profile();  // with the listen port the harness chose

    // Sealed: the marker never crosses in the clear (so the check below can fail).
    CHECK_FALSE(marker_in_clear(relay, local.socks_endpoint(), echo, marker, deadline));

    // The download starts on the old profile and runs through the reload.
    constexpr uint64_t kBytes = 256ull << 20;
    Socks5Result bulk = local.socks_client().connect(Socks5Target::to(source.endpoint()), deadline);
    REQUIRE(bulk.ok());
    auto transfer = std::async(std::launch::async, [&] {
      return download(bulk.socket, kBytes, 42, Deadline::after(200s));
    });
    std::this_thread::sleep_for(200ms);  // under way before the reload

    profile.security = "none";
    REQUIRE(reload(local, profile.to_toml(), deadline));
    // New tunnels use the new security: the marker crosses in the clear.
    CHECK(marker_in_clear(relay, local.socks_endpoint(), echo, marker, deadline));
    CHECK(transfer.wait_for(0s) != std::future_status::ready);  // the reload came mid-transfer

    const TransferResult result = transfer.get();
    INFO(result.summary("download"));
    CHECK(result.received == kBytes);
    CHECK(result.received_sha256 == stream_sha256(42, kBytes));
    CHECK(source.errors().empty());
    CHECK(local.log_text().find(" refused") == std::string::npos);
  }

  TEST_CASE("reload: a broken profile is refused with file:line:column and the old one serves") {
    const auto deadline = Deadline::after(60s);
    TempDir dir;
    EchoServer echo;
    V2rayServer server = V2rayServer::vmess(dir);
    auto profile = VmessLocalProfile::for_server(server);
    VmessLocal local(dir, profile);
    profile = local.profile();
    Socket live = open_echo_tunnel(local.socks_endpoint(), echo, deadline);

    // A TOML syntax error on line 3, and then a value the loader refuses.
    CHECK_FALSE(reload(local, "[local]\nlisten = [\"127.0.0.1:1\"]\nworkers = = 2\n", deadline));
    std::string log = local.log_text();
    INFO(log);
    const std::string path = local.profile_path().string();
    CHECK(std::regex_search(log, std::regex("reload refused: " + path + ":3:[0-9]+: ")));
    CHECK(log.find("the running profile stays") != std::string::npos);

    auto bad = profile;
    bad.security = "rot13";
    CHECK_FALSE(reload(local, bad.to_toml(), deadline));
    log = local.log_text();
    CHECK(std::regex_search(
        log, std::regex("reload refused: " + path + ":[0-9]+:[0-9]+: [^\n]*security")));

    // The old profile serves: the live tunnel and a new one.
    echo_check(live, "still here", deadline);
    open_echo_tunnel(local.socks_endpoint(), echo, deadline);
    CHECK(local.process().alive());
  }

  TEST_CASE("reload: a changed listen address opens the new one and closes the old one") {
    const auto deadline = Deadline::after(60s);
    TempDir dir;
    EchoServer echo;
    V2rayServer server = V2rayServer::vmess(dir);
    auto profile = VmessLocalProfile::for_server(server);
    const Endpoint first{"127.0.0.1", free_port()};
    const Endpoint second{"127.0.0.1", free_port()};
    profile.listen = {first};
    VmessLocal local(dir, profile);
    Socket live = open_echo_tunnel(first, echo, deadline);

    profile.listen = {second};
    REQUIRE(reload(local, profile.to_toml(), deadline));
    open_echo_tunnel(second, echo, deadline);
    bool refused = false;
    try {
      Socket::connect(first, Deadline::after(5s));
    } catch (const SocketError&) {
      refused = true;
    }
    CHECK(refused);
    // The tunnel accepted on the closed listener goes on.
    echo_check(live, "after the move", deadline);
  }

  TEST_CASE(
      "reload: a listener moved to the wildcard address of its own port takes the port over; a "
      "refused reload gives it back") {
    // One worker has no SO_REUSEPORT, and the kernel refuses 0.0.0.0:P beside 127.0.0.1:P: the
    // old listener hands the port over. The proxy needs a password on 0.0.0.0, and the test
    // reaches it only through 127.0.0.1.
    const auto deadline = Deadline::after(60s);
    TempDir dir;
    EchoServer echo;
    V2rayServer server = V2rayServer::vmess(dir);
    auto profile = VmessLocalProfile::for_server(server);
    const Socks5Credentials credentials{"user", "pass-w0rd"};
    profile.credentials = credentials;
    const uint16_t port = free_port();
    profile.listen = {Endpoint{"127.0.0.1", port}};
    VmessLocal local(dir, profile);
    const Socks5Client client(Endpoint{"127.0.0.1", port}, {credentials});
    const auto tunnel = [&] {
      Socks5Result r = client.connect(Socks5Target::to(echo.endpoint()), deadline);
      INFO("SOCKS reply " << static_cast<int>(r.reply) << "\n" << local.log_text());
      REQUIRE(r.ok());
      echo_check(r.socket, "ping", deadline);
      return std::move(r.socket);
    };
    Socket live = tunnel();

    profile.listen = {Endpoint{"0.0.0.0", port}};
    REQUIRE(reload(local, profile.to_toml(), deadline));
    CHECK(local.log_text().find("profile reloaded: listening on 0.0.0.0:" + std::to_string(port)) !=
          std::string::npos);
    CHECK(local.log_text().find("SOCKS5 without UDP here (UDP keeps the addresses it started "
                                "with, 127.0.0.1:" +
                                std::to_string(port) + ": restart for UDP on these)") !=
          std::string::npos);
    tunnel();

    // Back, and then a reload that fails on its second address (held by this test): the port
    // handed over for the first is taken back, and the running profile serves on.
    profile.listen = {Endpoint{"127.0.0.1", port}};
    REQUIRE(reload(local, profile.to_toml(), deadline));
    const Socket held = Socket::listen(Endpoint{"127.0.0.1", free_port()});
    profile.listen = {Endpoint{"0.0.0.0", port}, held.local_endpoint()};
    CHECK_FALSE(reload(local, profile.to_toml(), deadline));
    CHECK(local.log_text().find("reload refused: listen " + held.local_endpoint().to_string() +
                                ": address already in use") != std::string::npos);
    tunnel();
    echo_check(live, "after three reloads", deadline);
  }

  TEST_CASE(
      "reload: an unchanged listener never refuses a connection while SIGHUPs come in a loop "
      "(two workers)") {
    TempDir dir;
    EchoServer echo;
    V2rayServer server = V2rayServer::vmess(dir);
    auto profile = VmessLocalProfile::for_server(server);
    profile.workers = 2;
    VmessLocal local(dir, profile);
    profile = local.profile();

    // Every reload is a real change (the security and the log level alternate).
    auto other = profile;
    other.security = "chacha20-poly1305";
    other.log_level = "debug";
    std::atomic<bool> done{false};
    std::atomic<int> sent{0};
    std::thread hup([&] {
      while (!done) {
        write_profile(local, sent % 2 == 0 ? other.to_toml() : profile.to_toml());
        local.process().signal(SIGHUP);
        ++sent;
        std::this_thread::sleep_for(30ms);
      }
    });
    int tunnels = 0;
    int failures = 0;  // a refused connection or a failed SOCKS reply
    // A tunnel that was accepted and answered but whose echo never came: not the listener's doing.
    // v2ray 4.34's AuthID replay filter (a cuckoo filter) now and then takes a fresh request for a
    // replay and never answers it (one in several hundred here, "server closed the connection
    // before responding" when the app gives up); counted apart, and bounded.
    int silent = 0;
    const auto until = std::chrono::steady_clock::now() + 6s;
    while (std::chrono::steady_clock::now() < until) {
      try {
        Socks5Result r =
            local.socks_client().connect(Socks5Target::to(echo.endpoint()), Deadline::after(10s));
        if (!r.ok()) {
          ++failures;
          continue;
        }
        r.socket.send_all("x", Deadline::after(10s));
        try {
          if (r.socket.recv_exact(1, Deadline::after(10s)).size() != 1) ++silent;
        } catch (const std::exception& e) {
          MESSAGE("echo: " << e.what());
          ++silent;
        }
        ++tunnels;
      } catch (const std::exception& e) {
        MESSAGE(std::string(e.what()));
        ++failures;
      }
      std::this_thread::sleep_for(5ms);
    }
    done = true;
    hup.join();
    const std::string log = local.log_text();
    INFO(log.substr(log.size() > 20000 ? log.size() - 20000 : 0));
    CHECK(failures == 0);
    CHECK(silent <= 2);
    CHECK(tunnels > 20);
    CHECK(sent > 20);
    // Both workers reloaded, many times.
    CHECK(count_of(log, "] profile reloaded: ") > 10);
    CHECK(std::regex_search(log, std::regex("w2[^\n]*profile reloaded: ")));
    CHECK(log.find("reload refused") == std::string::npos);
  }

  TEST_CASE("reload: [local] workers cannot change: logged, the rest applies") {
    const auto deadline = Deadline::after(60s);
    TempDir dir;
    EchoServer echo;
    V2rayServer server = V2rayServer::vmess(dir);
    auto profile = VmessLocalProfile::for_server(server);
    profile.workers = 2;
    VmessLocal local(dir, profile);
    profile = local.profile();

    const Endpoint added{"127.0.0.1", free_port()};
    profile.workers = 3;
    profile.listen.push_back(added);
    // Two "reloaded" lines: one per running worker.
    REQUIRE(reload(local, profile.to_toml(), deadline, 2));
    const std::string log = local.log_text();
    INFO(log);
    CHECK(log.find("[local] workers = 3 needs a restart: still running 2 worker(s)") !=
          std::string::npos);
    CHECK(log.find("w3") == std::string::npos);
    // The other change applied: the new listen address serves, the old one still does.
    open_echo_tunnel(added, echo, deadline);
    open_echo_tunnel(local.socks_endpoint(), echo, deadline);
  }

  TEST_CASE("reload: a changed server address and uuid move new tunnels") {
    const auto deadline = Deadline::after(90s);
    TempDir dir;
    EchoServer echo;
    V2rayServer a = V2rayServer::vmess(dir);
    V2rayServer b = V2rayServer::vmess(dir);
    auto profile = VmessLocalProfile::for_server(a);
    VmessLocal local(dir, profile);
    open_echo_tunnel(local.socks_endpoint(), echo, deadline);

    auto next = VmessLocalProfile::for_server(b);  // another port and uuid
    next.listen = local.listen();
    REQUIRE(reload(local, next.to_toml(), deadline));
    // The old server is gone: new tunnels reach the new one only.
    a.process().signal(SIGKILL);
    a.process().wait_exit(deadline);
    for (int i = 0; i < 3; ++i)
      open_echo_tunnel(local.socks_endpoint(), echo, deadline);
  }

  TEST_CASE("reload: a server that did not change keeps its counters; a changed one starts anew") {
    const auto deadline = Deadline::after(90s);
    TempDir dir;
    EchoServer echo;
    V2rayServer a = V2rayServer::vmess(dir);
    V2rayServer b = V2rayServer::vmess(dir);
    V2rayServer c = V2rayServer::vmess(dir);
    auto profile = VmessLocalProfile::for_server(a);
    profile.server_name = "kept";
    profile.more_servers = {VmessLocalProfile::Server::for_server(b, "changed")};
    VmessLocal local(dir, profile);
    profile = local.profile();

    // [balancer] "first": every tunnel goes to "kept".
    Socket live = open_echo_tunnel(local.socks_endpoint(), echo, deadline);
    for (int i = 0; i < 2; ++i)
      open_echo_tunnel(local.socks_endpoint(), echo, deadline);
    REQUIRE(tunnels_total(local, "kept", deadline) == 3u);

    // "changed" is another server now (address and uuid); "kept" is the same.
    profile.more_servers = {VmessLocalProfile::Server::for_server(c, "changed")};
    REQUIRE(reload(local, profile.to_toml(), deadline));
    CHECK(tunnels_total(local, "kept", deadline) == 3u);
    open_echo_tunnel(local.socks_endpoint(), echo, deadline);
    CHECK(tunnels_total(local, "kept", deadline) == 4u);
    // A tunnel from before the reload still counts into the same numbers.
    echo_check(live, "bytes after the reload", deadline);   // 22 bytes, after 4 pings of 4
    REQUIRE(tunnels_total(local, "kept", deadline) == 4u);  // logs the counters again
    const std::string log = local.log_text();
    const std::regex bytes_line("server \"kept\": [^\n]*bytes up ([0-9]+), down ([0-9]+)");
    std::string last_up;
    for (auto it = std::sregex_iterator(log.begin(), log.end(), bytes_line);
         it != std::sregex_iterator(); ++it) {
      last_up = (*it)[1].str();
    }
    CHECK(last_up == "38");

    // When "kept" dies, new tunnels fail over to "changed", which is now server c.
    b.process().signal(SIGKILL);
    b.process().wait_exit(deadline);
    a.process().signal(SIGKILL);
    a.process().wait_exit(deadline);
    open_echo_tunnel(local.socks_endpoint(), echo, deadline);
    CHECK(tunnels_total(local, "changed", deadline) == 1u);
  }

  TEST_CASE(
      "reload: [subscription] servers; a changed list moves new tunnels; a 404 or garbage keeps "
      "the running profile with a log line") {
    const auto deadline = Deadline::after(120s);
    TempDir dir;
    EchoServer echo;
    V2rayServer a = V2rayServer::vmess(dir);
    V2rayServer b = V2rayServer::vmess(dir);
    SubscriptionServer provider;
    provider.set(200, subscription_for(a, "sub-a"));
    const Endpoint listen{"127.0.0.1", free_port()};
    // The profile has no server of its own. The token in the URL must never reach the log.
    const std::string profile = "[local]\nlisten = [\"" + listen.to_string() +
                                "\"]\n\n[route]\nprivate = \"proxy\"\n\n[probe]\nurl = \"\"\n\n"
                                "[subscription]\nurl = \"" +
                                provider.url("/sub?token=s3cret-t0ken") + "\"\ninterval = 0.3\n";
    Process local = launch_vmess_local(dir, profile);
    wait_until_accepting(listen, local, deadline);
    INFO(local.log_text());
    open_echo_tunnel(listen, echo, deadline);
    CHECK(process_tunnels_total(local, "sub-a", deadline) == 1u);

    // The list changes: reloaded, new tunnels go to the new server (the old one is gone).
    provider.set(200, subscription_for(b, "sub-b"));
    REQUIRE(wait_for_count(local, "profile reloaded: ", 1, deadline) == 1);
    CHECK(local.log_text().find("the server list changed (1 server(s))") != std::string::npos);
    CHECK(local.log_text().find("servers: 0 kept; new: \"sub-b\"; gone: \"sub-a\"") !=
          std::string::npos);
    a.process().signal(SIGKILL);
    a.process().wait_exit(deadline);
    open_echo_tunnel(listen, echo, deadline);
    CHECK(process_tunnels_total(local, "sub-b", deadline) == 1u);

    // An unchanged list does nothing: no second reload while it is fetched again.
    const uint64_t fetched = provider.requests();
    while (provider.requests() < fetched + 3 && !deadline.expired())
      std::this_thread::sleep_for(50ms);
    CHECK(count_of(local.log_text(), "profile reloaded: ") == 1);

    // A 404: refused with a log line naming the host only; the running profile serves.
    provider.set(404, "no such subscription");
    const std::string host = "subscription http://" + provider.url("").substr(7) + "/...";
    CHECK(wait_for_count(local, "reload refused: " + host + ": the server answered HTTP 404", 1,
                         deadline) >= 1);
    open_echo_tunnel(listen, echo, deadline);

    // Garbage: the same.
    provider.set(200, "<html><body>maintenance</body></html>");
    CHECK(wait_for_count(local, "reload refused: " + host + ": not a vmess:// link", 1, deadline) >=
          1);
    open_echo_tunnel(listen, echo, deadline);
    CHECK(count_of(local.log_text(), "profile reloaded: ") == 1);
    CHECK(local.log_text().find("s3cret") == std::string::npos);
    CHECK(process_tunnels_total(local, "sub-b", deadline) == 3u);
  }

  TEST_CASE(
      "subscription: an http_proxy naming this proxy is skipped at start; a proxy that fails is "
      "named") {
    // README tells users to set http_proxy=http://127.0.0.1:1080 for their apps; at start the
    // proxy does not serve yet, so libcurl would fetch through a refused port.
    const auto deadline = Deadline::after(60s);
    TempDir dir;
    EchoServer echo;
    V2rayServer a = V2rayServer::vmess(dir);
    SubscriptionServer provider;
    provider.set(200, subscription_for(a, "sub-a"));
    const Endpoint listen{"127.0.0.1", free_port()};
    const std::string profile = "[local]\nlisten = [\"" + listen.to_string() +
                                "\"]\n\n[route]\nprivate = \"proxy\"\n\n[probe]\nurl = \"\"\n\n"
                                "[subscription]\nurl = \"" +
                                provider.url("/sub") + "\"\n";
    VmessLocalOptions own;
    own.env = {{"http_proxy", "http://localhost:" + std::to_string(listen.port)}};
    Process local = launch_vmess_local(dir, profile, own);
    wait_until_accepting(listen, local, deadline);
    INFO(local.log_text());
    CHECK(local.log_text().find(
              "http_proxy names this proxy itself (localhost:" + std::to_string(listen.port) +
              "), which does not serve yet: fetching directly") != std::string::npos);
    open_echo_tunnel(listen, echo, deadline);
    CHECK(process_tunnels_total(local, "sub-a", deadline) == 1u);
    local.signal(SIGTERM);
    local.wait_exit(deadline);

    // Another proxy, which refuses: the failure says it went through it.
    VmessLocalOptions other;
    const uint16_t refused = free_port();
    other.env = {{"http_proxy", "http://user:pw@127.0.0.1:" + std::to_string(refused)}};
    Process failing = launch_vmess_local(dir, profile, other, "other-proxy");
    const auto status = failing.wait_exit(deadline);
    REQUIRE(status.has_value());
    CHECK(status->exited());
    CHECK(status->code == 2);
    const std::string text = failing.log_text();
    CHECK(text.find("(through the proxy in http_proxy, 127.0.0.1:" + std::to_string(refused) +
                    ")") != std::string::npos);
    CHECK(text.find("pw@") == std::string::npos);
  }

  TEST_CASE("reload: SIGTERM while a subscription fetch hangs stops at once, not after 30 s") {
    const auto deadline = Deadline::after(60s);
    TempDir dir;
    V2rayServer a = V2rayServer::vmess(dir);
    SubscriptionServer provider;
    provider.set(200, subscription_for(a, "sub-a"));
    const Endpoint listen{"127.0.0.1", free_port()};
    const std::string profile = "[local]\nlisten = [\"" + listen.to_string() +
                                "\"]\n\n[probe]\nurl = \"\"\n\n[subscription]\nurl = \"" +
                                provider.url("/sub") + "\"\ninterval = 0.3\n";
    Process local = launch_vmess_local(dir, profile);
    wait_until_accepting(listen, local, deadline);
    INFO(local.log_text());
    // The provider stalls: the next refresh waits on it (libcurl's timeout is 30 s).
    provider.hang(true);
    const uint64_t before = provider.requests();
    while (provider.requests() < before + 1 && !deadline.expired())
      std::this_thread::sleep_for(20ms);
    REQUIRE(provider.requests() >= before + 1);
    std::this_thread::sleep_for(200ms);  // well inside the fetch
    const auto asked = std::chrono::steady_clock::now();
    local.signal(SIGTERM);
    const auto status = local.wait_exit(Deadline::after(20s));
    const auto took = std::chrono::steady_clock::now() - asked;
    REQUIRE(status.has_value());
    CHECK_MESSAGE(status->success(), status->describe());
    // libcurl asks whether to go on about once a second; 5 s leaves room for a loaded machine.
    CHECK(took < 5s);
  }

  TEST_CASE(
      "reload: a subscription server that never answers holds the start 10 s, not 30, and says "
      "so; SIGTERM meanwhile is a clean stop") {
    TempDir dir;
    V2rayServer a = V2rayServer::vmess(dir);
    SubscriptionServer provider;
    provider.hang(true);
    const Endpoint listen{"127.0.0.1", free_port()};
    // Servers of its own, so the proxy goes on with them when the fetch gives up.
    VmessLocalProfile own = VmessLocalProfile::for_server(a);
    own.listen = {listen};
    own.extra_toml = "[subscription]\nurl = \"" + provider.url("/sub") + "\"\n";
    {
      Process local = launch_vmess_local(dir, own.to_toml(), {}, "hang-start");
      INFO(local.log_text());
      // The line comes before the wait, so a user sees what the start is waiting for.
      REQUIRE(local.wait_for_log("INFO  fetching subscription http://", Deadline::after(10s)));
      const auto asked = std::chrono::steady_clock::now();
      wait_until_accepting(listen, local, Deadline::after(25s));
      const auto waited = std::chrono::steady_clock::now() - asked;
      CHECK(waited > 8s);   // the provider's 10 s, from a little after the line
      CHECK(waited < 20s);  // libcurl's whole-fetch limit is 30 s
      CHECK(local.log_text().find("nothing came for 10 s") != std::string::npos);
      CHECK(local.log_text().find("going on with the profile's own servers") != std::string::npos);
      local.signal(SIGTERM);
      REQUIRE(local.wait_exit(Deadline::after(20s)).has_value());
    }
    {
      Process local = launch_vmess_local(dir, own.to_toml(), {}, "hang-stop");
      INFO(local.log_text());
      REQUIRE(local.wait_for_log("INFO  fetching subscription http://", Deadline::after(10s)));
      local.signal(SIGTERM);
      const auto status = local.wait_exit(Deadline::after(5s));
      REQUIRE(status.has_value());
      CHECK_MESSAGE(status->success(), status->describe());  // not the default action's 143
      CHECK(local.log_text().find("stopping (SIGTERM) before the proxy started") !=
            std::string::npos);
    }
  }
}
