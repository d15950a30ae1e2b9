// SOCKS5 UDP ASSOCIATE end to end: PySocks (python3-socks, a client no one here wrote) ->
// vmess-local's UDP relay -> one VMess UDP tunnel per destination -> the real v2ray 4.34 ->
// loopback UDP servers (a dnsmasq with --no-resolv answering from its own address= entry, and
// the echo server inside tests/integration/udp/socks5_udp_client.py). With [server.mux] on, the
// destinations are UDP sub-streams of one shared Mux.Cool connection instead (MuxRelay). Every
// datagram stays on loopback: the harness's v2ray relays only there.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <string>
#include <utility>
#include <vector>

#include "harness/harness.hpp"

using namespace vmlocal::itest;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// Debian's interpreter, which has python3-socks (a pyenv one in PATH may not).
constexpr const char* kPython = "/usr/bin/python3";
const std::string kClient = std::string(VMLOCAL_ITEST_DIR) + "/udp/socks5_udp_client.py";

// Runs the UDP client in `mode` through `local`'s SOCKS5 port and returns the JSON it printed.
json run_client(const VmessLocal& local, const std::string& mode, std::vector<std::string> extra,
                Deadline deadline) {
  std::vector<std::string> args = {kPython, kClient, mode, "--proxy",
                                   local.socks_endpoint().to_string()};
  args.insert(args.end(), extra.begin(), extra.end());
  CommandResult r = run_command(args, deadline);
  INFO(r.describe());
  INFO(local.log_text());
  REQUIRE(r.success());
  return json::parse(r.out);
}

struct Relay {
  TempDir dir;
  V2rayServer v2ray;
  VmessLocal local;

  // The UDP servers here are on loopback, a private target: through the server on purpose
  // (the harness's default route_private) unless a test asks for another ("": the default).
  explicit Relay(unsigned workers = 1, std::string security = "aes-128-gcm",
                 std::string route = "proxy", std::string idle_timeout = "30")
      : v2ray(V2rayServer::vmess(dir, {}, with_access_log())),
        local(dir, profile_for(v2ray, workers, security, route, idle_timeout)) {}

  // v2ray's access log on its output (the harness turns it off): one "accepted udp:HOST:PORT"
  // line per UDP request it takes, so a test sees which destinations went through the server.
  static V2rayOptions with_access_log() {
    V2rayOptions options;
    options.extra_config = {{"log", {{"access", ""}}}};
    return options;
  }

  static VmessLocalProfile profile_for(const V2rayServer& v2ray, unsigned workers,
                                       const std::string& security, const std::string& route,
                                       const std::string& idle_timeout) {
    auto p = VmessLocalProfile::for_server(v2ray);
    p.log_level = "debug";
    p.workers = workers;
    p.security = security;
    p.extra_local_toml = "udp = true\nudp_idle_timeout = " + idle_timeout;
    p.route_private = route;
    return p;
  }

  // Runs the client in `mode` and returns the JSON it printed.
  json run(const std::string& mode, std::vector<std::string> extra = {},
           Deadline deadline = Deadline::after(120s)) {
    return run_client(local, mode, std::move(extra), deadline);
  }
};

// The same with [server.mux] on, and a ChaosRelay (no faults) between vmess-local and v2ray
// that counts the VMess connections. v2ray logs at info: "accepted udp:HOST:PORT" per Mux.Cool
// UDP session it takes (the access log), "session N ends" when one ends.
struct MuxRelay {
  TempDir dir;
  V2rayServer v2ray;
  ChaosRelay counter;
  VmessLocal local;

  explicit MuxRelay(std::string security = "aes-128-gcm", std::string idle_timeout = "30")
      : v2ray(V2rayServer::vmess(dir, {}, options())),
        counter(v2ray.endpoint()),
        local(dir, profile_for(v2ray, counter.port(), security, idle_timeout)) {}

  static V2rayOptions options() {
    V2rayOptions options = Relay::with_access_log();
    options.log_level = "info";
    return options;
  }

  static VmessLocalProfile profile_for(const V2rayServer& v2ray, uint16_t port,
                                       const std::string& security,
                                       const std::string& idle_timeout) {
    VmessLocalProfile p = Relay::profile_for(v2ray, 1, security, "proxy", idle_timeout);
    p.server_port = port;
    p.extra_toml = "[server.mux]\nenabled = true\n";
    return p;
  }

  json run(const std::string& mode, std::vector<std::string> extra = {},
           Deadline deadline = Deadline::after(120s)) {
    return run_client(local, mode, std::move(extra), deadline);
  }
};

// A v2ray server that is dead from the start: its port refuses connections.
V2rayServer dead_server(TempDir& dir) {
  V2rayServer server = V2rayServer::vmess(dir);
  server.process().signal(SIGKILL);
  server.process().wait_exit(Deadline::after(10s));
  return server;
}

// Two servers, the first with [server.mux] on and dead, the second answering (with or without
// mux), strategy "first": each destination's attempt on the first fails at TCP and it goes on to
// the second (FailoverStream), before a datagram is lost.
struct FailoverRelay {
  TempDir dir;
  V2rayServer first;
  V2rayServer second;
  VmessLocal local;

  explicit FailoverRelay(bool second_mux)
      : first(dead_server(dir)),
        second(V2rayServer::vmess(dir, {}, Relay::with_access_log())),
        local(dir, profile_for(first, second, second_mux)) {}

  static VmessLocalProfile profile_for(const V2rayServer& first, const V2rayServer& second,
                                       bool second_mux) {
    VmessLocalProfile p = Relay::profile_for(first, 1, "aes-128-gcm", "proxy", "30");
    p.server_name = "first";
    p.mux = true;
    auto more = VmessLocalProfile::Server::for_server(second, "second");
    more.mux = second_mux;
    p.more_servers = {more};
    p.extra_toml = "[balancer]\nstrategy = \"first\"\n";
    return p;
  }

  json run(const std::string& mode, std::vector<std::string> extra = {}) {
    return run_client(local, mode, std::move(extra), Deadline::after(120s));
  }
};

// One round trip of `text` on an open TCP tunnel to an echo server.
bool tcp_echoes(Socket& s, const std::string& text) {
  const Deadline deadline = Deadline::after(20s);
  s.send_all(text, deadline);
  const Bytes back = s.recv_exact(text.size(), deadline);
  return std::string(back.begin(), back.end()) == text;
}

}  // namespace

TEST_SUITE("udp") {
  TEST_CASE("a DNS query through SOCKS5 UDP (PySocks) is answered by a loopback dnsmasq") {
    Relay relay;
    const uint16_t dns_port = free_port();
    // --no-resolv, --no-hosts and no config file: it answers only from the address= entry and
    // asks nobody; it binds only 127.0.0.1 and touches no resolver configuration.
    Process dnsmasq(
        {"dnsmasq", "--no-daemon", "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
         "--user=root", "--pid-file=", "--listen-address=127.0.0.1", "--bind-interfaces",
         "--port=" + std::to_string(dns_port), "--address=/udp-test.vmess-local.test/10.11.12.13",
         "--log-queries", "--log-facility=-"},
        relay.dir.file("dnsmasq.log"));
    REQUIRE(dnsmasq.wait_for_log("started", Deadline::after(10s)));

    const json out = relay.run("dns", {"--server", "127.0.0.1:" + std::to_string(dns_port),
                                       "--name", "udp-test.vmess-local.test"});
    CHECK(out["id_matches"] == true);
    CHECK(out["rcode"] == 0);
    CHECK(out["answers"] == json::array({"10.11.12.13"}));
    CHECK(out["source"] == "127.0.0.1:" + std::to_string(dns_port));
    CHECK(dnsmasq.log_text().find("query[A] udp-test.vmess-local.test from 127.0.0.1") !=
          std::string::npos);
    // It went through a VMess UDP tunnel, not around it.
    CHECK(relay.local.log_text().find("-> 127.0.0.1:" + std::to_string(dns_port) +
                                      ": opening a VMess UDP tunnel") != std::string::npos);
  }

  TEST_CASE("1,000 datagrams echoed through one association: none corrupted, loss counted") {
    Relay relay;
    const json out = relay.run("echo", {"--count", "1000", "--size", "1200", "--window", "16"});
    MESSAGE("1000 x 1200 B through vmess-local and v2ray: " << out.dump());
    CHECK(out["corrupted"] == 0);
    // UDP may lose datagrams even on loopback under load (2 shared cores, ASan): a generous bound.
    CHECK(out["lost"].get<int>() <= 50);
    CHECK(out["received"].get<int>() >= 950);
    CHECK(out["server_received"].get<int>() >= out["received"].get<int>());
  }

  TEST_CASE("a domain destination goes to the server unresolved, and the reply names it") {
    // vmess-local runs with no resolver that could answer (VmessLocalOptions::hosts is not
    // needed: it must not resolve at all); v2ray's freedom resolves localhost itself.
    Relay relay;
    const json out =
        relay.run("echo", {"--count", "100", "--size", "300", "--target-name", "localhost"});
    CHECK(out["corrupted"] == 0);
    CHECK(out["received"].get<int>() >= 95);
    CHECK(relay.local.log_text().find("-> localhost:") != std::string::npos);
  }

  TEST_CASE(
      "datagrams over one packet chunk are dropped with a count; the largest that fits goes") {
    Relay relay;  // aes-128-gcm with padding: 1967 bytes fit one chunk (vmess-protocol.md §13)
    const json out = relay.run("sizes", {"--sizes", "1,1967,1968,4000,1500"});
    CHECK(out["echoed"]["1"] == true);
    CHECK(out["echoed"]["1967"] == true);
    CHECK(out["echoed"]["1968"] == false);
    CHECK(out["echoed"]["4000"] == false);
    CHECK(out["echoed"]["1500"] == true);  // the tunnel is still in step after the drops
    CHECK(out["server_received"] == 3);
    REQUIRE(relay.local.wait_for_log("2 too large", Deadline::after(10s)));
    CHECK(relay.local.log_text().find("dropped a datagram of 1968 B: one VMess packet chunk "
                                      "carries at most 1967 B") != std::string::npos);
  }

  TEST_CASE("a fragment (FRAG != 0) is dropped and counted; whole datagrams still go") {
    Relay relay;
    const json out = relay.run("fragment");
    CHECK(out["whole_echoed"] == true);
    CHECK(out["server_received"] == 1);
    REQUIRE(relay.local.wait_for_log("1 dropped (1 fragments", Deadline::after(10s)));
  }

  TEST_CASE("datagrams from any other source address are dropped") {
    Relay relay;
    const json out = relay.run("foreign");
    CHECK(out["legit_echoed"] == true);
    CHECK(out["still_echoed"] == true);
    CHECK(out["foreign_replies"] == 0);
    CHECK(out["server_received"] == 2);  // only the associated client's two datagrams
    CHECK(relay.local.log_text().find("no UDP association for that address") != std::string::npos);
  }

  TEST_CASE("an association ends with its TCP control connection, and its state is freed") {
    Relay relay;
    const json out = relay.run("outlive");
    CHECK(out["echoed_before"] == true);
    CHECK(out["echoed_after"] == false);
    CHECK(out["server_received"] == 1);
    const std::string log = relay.local.log_text();
    // The association's summary is logged as it is freed, before the later datagram came.
    CHECK(log.find("ended (its TCP connection closed): 1 destination(s), 1 datagrams up, 1 down") !=
          std::string::npos);
    CHECK(log.find("no UDP association for that address") != std::string::npos);
  }

  TEST_CASE(
      "[route]: UDP to a private target goes direct by default, through the server with "
      "private = proxy, nowhere with block") {
    // The echo server listens on 127.0.0.7: a private (loopback) target. v2ray logs every
    // request it accepts ("accepted udp:HOST:PORT"), so the server's log tells whether the
    // datagrams went through it.
    for (const std::string route : {"", "proxy", "block"}) {
      CAPTURE(route);
      Relay relay(1, "aes-128-gcm", route);
      const json out = relay.run("echo", {"--count", "200", "--size", "300", "--loss-after", "1",
                                          "--echo-host", "127.0.0.7"});
      const std::string log = relay.local.log_text();
      const bool server_saw_udp =
          relay.v2ray.log_text().find("accepted udp:127.0.0.7:") != std::string::npos;
      if (route == "block") {
        CHECK(out["received"] == 0);
        CHECK(out["server_received"] == 0);
        CHECK(log.find("[route] private = \"block\"") != std::string::npos);
        CHECK_FALSE(server_saw_udp);
        continue;
      }
      CHECK(out["received"] == 200);
      CHECK(out["corrupted"] == 0);
      CHECK(out["server_received"] == 200);
      if (route.empty()) {
        CHECK(log.find(": sending direct ([route])") != std::string::npos);
        CHECK(log.find("opening a VMess UDP tunnel") == std::string::npos);
        CHECK_FALSE(server_saw_udp);
      } else {
        CHECK(log.find("opening a VMess UDP tunnel") != std::string::npos);
        CHECK(server_saw_udp);
      }
    }
  }

  TEST_CASE(
      "[route] direct = [...]: a listed UDP destination goes direct even with private = "
      "proxy; a DNS answer comes back from the target") {
    TempDir dir;
    V2rayServer v2ray = V2rayServer::vmess(dir, {}, Relay::with_access_log());
    VmessLocalProfile p = Relay::profile_for(v2ray, 1, "aes-128-gcm", "", "30");
    p.extra_toml = "[route]\nprivate = \"proxy\"\ndirect = [\"127.0.0.8/32\"]\n";
    VmessLocal local(dir, p);
    auto echo_via = [&](const std::string& host) {
      std::vector<std::string> args = {
          kPython,   kClient, "echo",         "--proxy", local.socks_endpoint().to_string(),
          "--count", "50",    "--loss-after", "1",       "--echo-host",
          host};
      CommandResult r = run_command(args, Deadline::after(60s));
      INFO(r.describe());
      INFO(local.log_text());
      REQUIRE(r.success());
      return json::parse(r.out);
    };
    json out = echo_via("127.0.0.8");
    CHECK(out["received"] == 50);
    CHECK(out["corrupted"] == 0);
    CHECK(v2ray.log_text().find("accepted udp:127.0.0.8:") == std::string::npos);
    out = echo_via("127.0.0.7");
    CHECK(out["received"] == 50);
    CHECK(v2ray.log_text().find("accepted udp:127.0.0.7:") != std::string::npos);
  }

  TEST_CASE("an idle destination's tunnel is closed, and the next datagram opens a new one") {
    Relay relay(1, "aes-128-gcm", "proxy", "1");
    const json out = relay.run("pause", {"--wait", "3"});
    CHECK(out["first_echoed"] == true);
    CHECK(out["second_echoed"] == true);
    CHECK(out["server_received"] == 2);
    const std::string log = relay.local.log_text();
    CHECK(log.find("idle for 1.0 s (local.udp_idle_timeout)") != std::string::npos);
    const auto first = log.find("opening a VMess UDP tunnel");
    REQUIRE(first != std::string::npos);
    CHECK(log.find("opening a VMess UDP tunnel", first + 1) != std::string::npos);
  }

  TEST_CASE("with two workers every association is served by the one shared relay") {
    Relay relay(2);
    for (int i = 0; i < 6; ++i) {
      CAPTURE(i);
      const json out = relay.run("echo", {"--count", "50", "--size", "200"});
      CHECK(out["corrupted"] == 0);
      CHECK(out["received"].get<int>() >= 45);
    }
    // The control connections were spread over both workers (their lines carry w1 / w2).
    const std::string log = relay.local.log_text();
    CHECK(log.find("w2") != std::string::npos);
  }

  TEST_CASE("a reload keeps UDP going; one that changes a UDP limit says it needs a restart") {
    Relay relay;
    auto profile = relay.local.profile();
    // A change UDP does not care about: no warning, and datagrams still go.
    profile.security = "chacha20-poly1305";
    REQUIRE(reload(relay.local, profile.to_toml(), Deadline::after(10s)));
    CHECK(relay.local.log_text().find("UDP keeps the sockets") == std::string::npos);
    json out = relay.run("echo", {"--count", "100", "--size", "300", "--window", "8"});
    CHECK(out["corrupted"] == 0);
    CHECK(out["received"].get<int>() >= 95);
    // A UDP limit: the relay keeps the one it started with, and the log says so.
    profile.extra_local_toml = "udp = true\nudp_idle_timeout = 45";
    REQUIRE(reload(relay.local, profile.to_toml(), Deadline::after(10s)));
    CHECK(relay.local.log_text().find("reload: UDP keeps the sockets and limits it started with") !=
          std::string::npos);
    out = relay.run("echo", {"--count", "100", "--size", "300", "--window", "8"});
    CHECK(out["corrupted"] == 0);
    CHECK(out["received"].get<int>() >= 95);
    // A listen address added by a reload gets TCP but no UDP socket: the line says where UDP
    // is (it claimed "SOCKS5 with UDP" for both).
    const Endpoint first = relay.local.socks_endpoint();
    const Endpoint added{"127.0.0.1", free_port()};
    profile.listen = {first, added};
    REQUIRE(reload(relay.local, profile.to_toml(), Deadline::after(10s)));
    CHECK(relay.local.wait_for_log("(SOCKS5 with UDP on " + first.to_string() +
                                       " only (UDP keeps the addresses it started with: restart "
                                       "for the others)",
                                   Deadline::after(10s)));
  }

  TEST_CASE("chacha20-poly1305 and none carry datagrams too") {
    for (const std::string security : {"chacha20-poly1305", "none"}) {
      CAPTURE(security);
      Relay relay(1, security);
      const json out = relay.run("echo", {"--count", "200", "--size", "1000"});
      CHECK(out["corrupted"] == 0);
      CHECK(out["received"].get<int>() >= 190);
    }
  }

  TEST_CASE("[server.mux]: a DNS query goes as a Mux.Cool UDP sub-stream and is answered") {
    MuxRelay relay;
    const uint16_t dns_port = free_port();
    Process dnsmasq(
        {"dnsmasq", "--no-daemon", "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
         "--user=root", "--pid-file=", "--listen-address=127.0.0.1", "--bind-interfaces",
         "--port=" + std::to_string(dns_port), "--address=/udp-mux.vmess-local.test/10.11.12.14",
         "--log-queries", "--log-facility=-"},
        relay.dir.file("dnsmasq.log"));
    REQUIRE(dnsmasq.wait_for_log("started", Deadline::after(10s)));
    const json out = relay.run("dns", {"--server", "127.0.0.1:" + std::to_string(dns_port),
                                       "--name", "udp-mux.vmess-local.test"});
    CHECK(out["id_matches"] == true);
    CHECK(out["rcode"] == 0);
    CHECK(out["answers"] == json::array({"10.11.12.14"}));
    CHECK(out["source"] == "127.0.0.1:" + std::to_string(dns_port));
    const std::string log = relay.local.log_text();
    CHECK(log.find("-> 127.0.0.1:" + std::to_string(dns_port) +
                   ": opening a Mux.Cool UDP sub-stream") != std::string::npos);
    CHECK(log.find("opening a VMess UDP tunnel") == std::string::npos);
    CHECK(relay.v2ray.log_text().find("accepted udp:127.0.0.1:" + std::to_string(dns_port)) !=
          std::string::npos);
    CHECK(relay.counter.accepted() == 1);
  }

  TEST_CASE(
      "[server.mux]: 1,000 datagrams of 1,200 B echoed through one association, none "
      "corrupted") {
    MuxRelay relay;
    const json out = relay.run("echo", {"--count", "1000", "--size", "1200", "--window", "16"});
    MESSAGE("1000 x 1200 B over Mux.Cool: " << out.dump());
    CHECK(out["corrupted"] == 0);
    CHECK(out["wrong_source"] == 0);
    CHECK(out["received"].get<int>() >= 990);
    CHECK(out["server_received"].get<int>() >= out["received"].get<int>());
    CHECK(relay.local.log_text().find(": opening a Mux.Cool UDP sub-stream") != std::string::npos);
    CHECK(relay.counter.accepted() == 1);
  }

  TEST_CASE("[server.mux]: three destinations of one association share one VMess connection") {
    MuxRelay relay;
    const json out =
        relay.run("echo", {"--count", "300", "--size", "1200", "--window", "12", "--targets", "3"});
    MESSAGE("300 x 1200 B to 3 destinations over Mux.Cool: " << out.dump());
    CHECK(out["corrupted"] == 0);
    CHECK(out["wrong_source"] == 0);  // each reply came back from the destination it went to
    CHECK(out["received"].get<int>() >= 297);
    for (const auto& n : out["per_target_received"])
      CHECK(n.get<int>() >= 95);
    // Three UDP sessions, one VMess connection (v2ray's own log and the connection counter).
    const std::string v2ray_log = relay.v2ray.log_text();
    CHECK(count_of(v2ray_log, "accepted udp:127.0.0.1:") == 3);
    CHECK(count_of(relay.local.log_text(), ": opening a Mux.Cool UDP sub-stream") == 3);
    CHECK(relay.counter.accepted() == 1);
  }

  TEST_CASE(
      "[server.mux]: a 3,000 B datagram is refused; the association and a TCP tunnel on "
      "the same mux connection keep working") {
    MuxRelay relay;
    EchoServer echo;
    Socket tunnel = relay.local.socks_client().open_tunnel(Socks5Target::to(echo.endpoint()),
                                                           Deadline::after(30s));
    REQUIRE(tcp_echoes(tunnel, "before the big datagram"));
    const json out = relay.run("sizes", {"--sizes", "1200,2048,3000,2049,1500"});
    CHECK(out["echoed"]["1200"] == true);
    CHECK(out["echoed"]["2048"] == true);  // the largest Mux.Cool carries
    CHECK(out["echoed"]["3000"] == false);
    CHECK(out["echoed"]["2049"] == false);
    CHECK(out["echoed"]["1500"] == true);  // the association still works after the refusals
    CHECK(out["server_received"] == 3);
    CHECK(tcp_echoes(tunnel, "after the big datagram"));  // so does the shared connection
    tunnel.close();
    CHECK(relay.counter.accepted() == 1);
    REQUIRE(relay.local.wait_for_log("2 too large", Deadline::after(10s)));
    const std::string log = relay.local.log_text();
    CHECK(log.find("dropped a datagram of 3000 B: Mux.Cool carries at most 2048 B per datagram "
                   "(v2ray's server ends the whole mux connection over that)") !=
          std::string::npos);
    CHECK(log.find("with this server's security") == std::string::npos);
    // v2ray never saw a frame it refuses (it would have ended the connection).
    CHECK(relay.v2ray.log_text().find("packet size too large") == std::string::npos);
  }

  TEST_CASE(
      "[server.mux]: an idle destination's sub-stream ends with End; the next datagram "
      "opens a new one on the same connection") {
    MuxRelay relay("aes-128-gcm", "1");
    const json out = relay.run("pause", {"--wait", "3"});
    CHECK(out["first_echoed"] == true);
    CHECK(out["second_echoed"] == true);
    CHECK(out["server_received"] == 2);
    const std::string log = relay.local.log_text();
    CHECK(log.find("idle for 1.0 s (local.udp_idle_timeout)") != std::string::npos);
    CHECK(count_of(log, ": opening a Mux.Cool UDP sub-stream") == 2);
    // v2ray's server closes a session on our End ("session 1 ends"), long before its own UDP
    // idle timeout would.
    CHECK(relay.v2ray.log_text().find("session 1 ends") != std::string::npos);
    CHECK(relay.counter.accepted() == 1);
  }

  TEST_CASE("[server.mux]: security \"zero\" carries datagrams over Mux.Cool") {
    MuxRelay relay("zero");
    const json out = relay.run("echo", {"--count", "200", "--size", "1000"});
    CHECK(out["corrupted"] == 0);
    CHECK(out["received"].get<int>() >= 198);
    CHECK(relay.local.log_text().find("opening a Mux.Cool UDP sub-stream") != std::string::npos);
  }

  TEST_CASE(
      "[server.mux] failover: the first mux server refuses; a UDP destination's sub-stream goes "
      "on to the second's Mux.Cool connection and every datagram is echoed") {
    FailoverRelay relay(true);
    const json out = relay.run("echo", {"--count", "200", "--size", "1200", "--window", "8"});
    MESSAGE("200 x 1200 B with the first server dead: " << out.dump());
    CHECK(out["corrupted"] == 0);
    CHECK(out["wrong_source"] == 0);
    CHECK(out["received"].get<int>() >= 198);
    const std::string log = relay.local.log_text();
    CHECK(log.find("no server to send it to") == std::string::npos);
    CHECK(relay.second.log_text().find("accepted udp:127.0.0.1:") != std::string::npos);
  }

  TEST_CASE(
      "[server.mux] failover to a server without mux: datagrams go as a VMess UDP tunnel; one "
      "queued while connecting that is over the second's limit is dropped, not split") {
    FailoverRelay relay(false);
    // 2000 B fits Mux.Cool's 2048 (the first server's limit, checked when it was queued) but
    // not one aes-128-gcm packet chunk (1967, the second's, §13).
    const json out = relay.run("sizes", {"--sizes", "2000,1200,1500"});
    CHECK(out["echoed"]["2000"] == false);
    CHECK(out["echoed"]["1200"] == true);
    CHECK(out["echoed"]["1500"] == true);
    CHECK(out["server_received"] == 2);
    REQUIRE(relay.local.wait_for_log("over the limit of the server it failed over to",
                                     Deadline::after(40s)));
    CHECK(relay.second.log_text().find("accepted udp:127.0.0.1:") != std::string::npos);
  }

  TEST_CASE("a UDP port another program holds: the start fails naming the way out") {
    TempDir dir;
    const uint16_t port = free_port();
    // Someone else's UDP socket on the port the TCP listener gets.
    const int held = ::socket(AF_INET, SOCK_DGRAM, 0);
    REQUIRE(held >= 0);
    sockaddr_in at{};
    at.sin_family = AF_INET;
    at.sin_port = htons(port);
    at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(held, reinterpret_cast<const sockaddr*>(&at), sizeof at) == 0);
    VmessLocalProfile profile;
    profile.listen = {Endpoint{"127.0.0.1", port}};
    profile.server_port = free_port();
    profile.uuid = random_uuid();
    Process local = launch_vmess_local(dir, profile.to_toml());
    const auto status = local.wait_exit(Deadline::after(20s));
    ::close(held);
    REQUIRE(status.has_value());
    CHECK(status->code != 0);
    CHECK(local.log_text().find("UDP relay 127.0.0.1:" + std::to_string(port) +
                                ": address already in use (another program holds this UDP "
                                "port: free it, use another listen port, or set [local] udp = "
                                "false to run without UDP)") != std::string::npos);
  }
}
