// `vmess-local import`, end to end: a share link for a real v2ray 4.34 server (tcp, ws, tcp+tls,
// ws+tls) is imported with the binary into a profile file, and that profile, untouched, carries
// a tunnel. Also: -o makes a 0600 file and refuses to overwrite; a subscription is fetched over
// http from a loopback server; `-c` given a link or a JSON config points at import.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "harness/harness.hpp"
#include "vmlocal/config/profile.hpp"

using namespace vmlocal::itest;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

using Kind = TransportKind;

std::string base64(std::string_view text) {
  auto r = run_command({"sh", "-c", "printf %s \"$0\" | base64 -w0", std::string(text)},
                       Deadline::after(10s));
  REQUIRE(r.success());
  return r.out;
}

// The share link a panel would hand out for this server: v2rayN's form for tcp and ws+tls, the
// URI form for ws and tcp+tls, so both readers carry a tunnel.
std::string link_for(Kind kind, const V2rayServer& v2ray) {
  const std::string host = has_tls(kind) ? "localhost" : "127.0.0.1";
  const std::string port = std::to_string(v2ray.port());
  if (kind == Kind::kTcp || kind == Kind::kWsTls) {
    json fields = {{"v", "2"},
                   {"ps", "test server"},
                   {"add", host},
                   {"port", port},
                   {"id", v2ray.uuid()},
                   {"aid", "0"},
                   {"scy", "auto"},
                   {"net", has_ws(kind) ? "ws" : "tcp"},
                   {"type", "none"},
                   {"host", ""},
                   {"path", has_ws(kind) ? "/imported" : ""},
                   {"tls", has_tls(kind) ? "tls" : ""}};
    return "vmess://" + base64(fields.dump());
  }
  std::string link = "vmess://" + v2ray.uuid() + "@" + host + ":" + port +
                     "?type=" + (has_ws(kind) ? "ws&path=%2Fimported" : "tcp") +
                     (has_tls(kind) ? "&security=tls" : "") + "#test%20server";
  return link;
}

CommandResult import_command(const std::vector<std::string>& args, const EnvVars& env = {}) {
  std::vector<std::string> full{vmess_local_binary().string(), "import"};
  full.insert(full.end(), args.begin(), args.end());
  return run_command(full, Deadline::after(30s), env);
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

TEST_SUITE("import") {
  TEST_CASE("an imported link carries a tunnel to the real v2ray: tcp, ws, tcp+tls, ws+tls") {
    EchoServer echo;
    std::uint64_t seed = 40;
    for (Kind kind : {Kind::kTcp, Kind::kWs, Kind::kTls, Kind::kWsTls}) {
      CAPTURE(static_cast<int>(kind));
      TempDir dir;
      const Certificate cert = make_certificate(dir);
      VmessInboundOptions inbound;
      inbound.stream_settings = stream_settings(kind, cert, "/imported");
      V2rayServer v2ray = V2rayServer::vmess(dir, inbound);

      const auto profile = dir.file("config") / "imported.toml";  // the directory is created
      const Endpoint listen = Endpoint::loopback(Family::kV4, free_port());
      auto imported =
          import_command({link_for(kind, v2ray), "-o", profile.string(), "-l", listen.to_string()});
      REQUIRE_MESSAGE(imported.success(), imported.describe());
      CHECK(imported.err.find(v2ray.uuid()) == std::string::npos);
      struct stat st {};
      REQUIRE(::stat(profile.c_str(), &st) == 0);
      CHECK((st.st_mode & 0777) == 0600);
      const std::string text = read_text(profile);
      CHECK(text.find("transport = \"" + std::string(has_ws(kind) ? "ws" : "tcp") + "\"") !=
            std::string::npos);
      CHECK((text.find("[server.tls]") != std::string::npos) == has_tls(kind));

      // The profile as import wrote it; the self-signed certificate is trusted the way a
      // system CA would be (OpenSSL's default store, SSL_CERT_FILE), so TLS is verified.
      Process local({vmess_local_binary().string(), "-c", profile.string()}, dir.file("local.log"),
                    {{"SSL_CERT_FILE", cert.cert.string()}});
      wait_until_accepting(listen, local, Deadline::after(10s));
      const auto deadline = Deadline::after(30s);
      auto tunnel = Socks5Client(listen).connect(Socks5Target::to(echo.endpoint()), deadline);
      REQUIRE_MESSAGE(tunnel.ok(), tunnel.describe() << "\n" << local.log_text());
      auto echoed = echo_transfer(tunnel.socket, 256 * 1024, ++seed, deadline);
      CHECK(echoed.received == 256 * 1024);
      CHECK(to_hex(echoed.received_sha256) == to_hex(stream_sha256(seed, 256 * 1024)));
      CHECK(local.alive());
    }
  }

  TEST_CASE("-o refuses to replace a file unless --force, and keeps it 0600") {
    TempDir dir;
    const std::string link = "vmess://example@127.0.0.1:10086";
    const auto path = dir.write_file("existing.toml", "# mine\n");
    ::chmod(path.c_str(), 0644);
    auto refused = import_command({link, "-o", path.string()});
    CHECK(refused.status->code == 1);
    CHECK(refused.err.find("(use --force to replace it)") != std::string::npos);
    CHECK(read_text(path) == "# mine\n");
    auto bad_listen = import_command({link, "-o", path.string(), "--force", "-l", "localhost:1"});
    CHECK(bad_listen.status->code == 2);
    CHECK(bad_listen.err.starts_with("vmess-local: import: --listen localhost:1: "));
    CHECK(read_text(path) == "# mine\n");
    auto forced = import_command({link, "-o", path.string(), "--force"});
    REQUIRE_MESSAGE(forced.success(), forced.describe());
    CHECK(read_text(path).find("uuid = \"feb54431-301b-52bb-a6dd-e1e93e81bb9e\"") !=
          std::string::npos);
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
  }

  TEST_CASE("a pasted link is read as text, never echoed as a path: spaces, case, schemes") {
    const std::string uuid = "3f1c2a4e-8b7d-4e21-9c55-0123456789ab";
    const std::string uri = uuid + "@127.0.0.1:21002";
    TempDir dir;
    for (const std::string& link : {" vmess://" + uri, "VMESS://" + uri, "vmess://" + uri + "\n"}) {
      auto result = import_command({link, "-o", (dir.path() / "p.toml").string(), "--force"});
      CHECK_MESSAGE(result.success(), result.describe());
      CHECK(result.err.find(uuid) == std::string::npos);
      CHECK(read_text(dir.path() / "p.toml").find("uuid = \"" + uuid + "\"") != std::string::npos);
    }
    auto vless = import_command({"vless://" + uri + "?type=ws#x"});
    CHECK(vless.status->code == 1);
    CHECK(
        vless.err ==
        "vmess-local: import: link 1: a vless:// link, not VMess: vmess-local speaks VMess only\n");
    const json fields = {{"v", "2"},   {"ps", "x"},    {"add", "127.0.0.1"}, {"port", "21002"},
                         {"id", uuid}, {"net", "tcp"}, {"tls", ""}};
    const std::string body = base64(fields.dump());
    auto bare = import_command({body});
    CHECK_MESSAGE(bare.success(), bare.describe());
    CHECK(bare.err.find("without its vmess:// prefix") != std::string::npos);
    CHECK(bare.err.find(uuid) == std::string::npos);
    auto cut = import_command({"vmess://" + body.substr(0, 60)});
    CHECK(cut.status->code == 1);
    CHECK(cut.err == "vmess-local: import: link 1: the link looks cut off (copy it whole)\n");
    // A long body is text too, not a file name too long to open.
    auto long_body = import_command({body + body});
    CHECK(long_body.err.find("File name too long") == std::string::npos);
    CHECK(long_body.err.find(body.substr(0, 40)) == std::string::npos);
    // A missing file is named, unless its name looks like it holds a user ID.
    auto missing = import_command({(dir.path() / "links.txt").string()});
    CHECK(missing.status->code == 1);
    CHECK(missing.err.starts_with("vmess-local: import: cannot read " +
                                  (dir.path() / "links.txt").string() +
                                  ": No such file or directory"));
    auto secret = import_command({(dir.path() / (uuid + ".txt")).string()});
    CHECK(secret.status->code == 1);
    CHECK(
        secret.err.starts_with("vmess-local: import: cannot read the file given (its name looks "
                               "like it holds a user ID, so it is not shown): No such file"));
    CHECK(secret.err.find(uuid.substr(0, 8)) == std::string::npos);
  }

  TEST_CASE("a subscription fetched over http from a loopback server, and stdin") {
    const std::string uuid = "b831381d-6324-4d53-ad4f-8cda48b30811";
    const std::string list = "vmess://" + uuid + "@one.example.org:443#one\nvmess://" + uuid +
                             "@two.example.org:443?type=ws&security=tls#two\n";
    HttpServer http;
    http.add_page("/sub/token", base64(list), "text/plain");
    auto fetched = import_command({http.url("/sub/token")});
    REQUIRE_MESSAGE(fetched.success(), fetched.describe());
    CHECK(fetched.out.find("[[servers]]\nname = \"one\"\naddress = \"one.example.org\"") !=
          std::string::npos);
    CHECK(fetched.out.find("[[servers]]\nname = \"two\"\naddress = \"two.example.org\"") !=
          std::string::npos);
    CHECK(fetched.out.find("/sub/token") == std::string::npos);  // the token stays out

    auto missing = import_command({http.url("/nothing")});
    CHECK(missing.status->code == 1);
    CHECK(missing.err.find("vmess-local: import: cannot fetch") != std::string::npos);

    TempDir dir;
    const auto file = dir.write_file("links.txt", list);
    auto from_stdin = run_command(
        {"sh", "-c", "exec \"$0\" import - < \"$1\"", vmess_local_binary().string(), file.string()},
        Deadline::after(30s));
    REQUIRE_MESSAGE(from_stdin.success(), from_stdin.describe());
    auto from_file = import_command({file.string()});
    REQUIRE_MESSAGE(from_file.success(), from_file.describe());
    CHECK(from_stdin.out.find("name = \"two\"") != std::string::npos);
    // The same servers whichever way they came; only the header comment names the source.
    auto servers = [](const std::string& text) { return text.substr(text.find("[local]")); };
    CHECK(servers(from_stdin.out) == servers(fetched.out));
    CHECK(servers(from_file.out) == servers(fetched.out));
  }

  TEST_CASE("-c given a link or a v2ray JSON config says to run import; usage errors") {
    TempDir dir;
    const auto config = dir.write_file("config.json", "{\n  \"outbounds\": []\n}\n");
    auto json_config =
        run_command({vmess_local_binary().string(), "-c", config.string()}, Deadline::after(10s));
    CHECK(json_config.status->code == 2);
    CHECK(json_config.err == "vmess-local: " + config.string() +
                                 ": this looks like a v2ray JSON config, not a vmess-local "
                                 "profile: run `vmess-local import` to turn it into a profile\n");
    auto link = run_command({vmess_local_binary().string(), "run", "-c", "vmess://abc"},
                            Deadline::after(10s));
    CHECK(link.status->code == 2);
    CHECK(link.err.find("this looks like a vmess:// link") != std::string::npos);
    CHECK(link.err.find("run `vmess-local import`") != std::string::npos);
    auto bogus = run_command({vmess_local_binary().string(), "--bogus"}, Deadline::after(10s));
    CHECK(bogus.status->code == 2);
    CHECK(bogus.err.starts_with("vmess-local: "));
    auto no_profile = run_command({vmess_local_binary().string(), "check"}, Deadline::after(10s),
                                  {{"HOME", dir.path().string()}, {"XDG_CONFIG_HOME", ""}});
    if (!std::filesystem::exists("/etc/vmess-local/config.toml")) {
      CHECK(no_profile.status->code == 2);
      CHECK(no_profile.err.find("vmess-local: no profile: give one with -c FILE, or create " +
                                dir.path().string() + "/.config/vmess-local/config.toml") !=
            std::string::npos);
    }
    // The default path is used when -c is absent.
    const auto home_profile = dir.path() / ".config" / "vmess-local" / "config.toml";
    auto written = import_command({"vmess://example@127.0.0.1:10086", "-o", home_profile.string()},
                                  {{"HOME", dir.path().string()}, {"XDG_CONFIG_HOME", ""}});
    REQUIRE_MESSAGE(written.success(), written.describe());
    // Named as it was run (by path: it is not on PATH before `meson install`); the default
    // profile needs no -c.
    CHECK(written.err.find("; start with: " + vmess_local_binary().string() + "\n") !=
          std::string::npos);
    const auto elsewhere = dir.path() / "profile with space.toml";
    auto other = import_command({"vmess://example@127.0.0.1:10086", "-o", elsewhere.string()},
                                {{"HOME", dir.path().string()}, {"XDG_CONFIG_HOME", ""}});
    REQUIRE_MESSAGE(other.success(), other.describe());
    const std::string start = vmess_local_binary().string() + " -c '" + elsewhere.string() + "'";
    CHECK(other.err.find("; start with: " + start + "\n") != std::string::npos);
    auto started = run_command({"sh", "-c", "exec " + start + " --check"}, Deadline::after(10s));
    CHECK_MESSAGE(started.success(), started.describe());  // the command as printed works
    auto checked = run_command({vmess_local_binary().string(), "check"}, Deadline::after(10s),
                               {{"HOME", dir.path().string()}, {"XDG_CONFIG_HOME", ""}});
    REQUIRE_MESSAGE(checked.success(), checked.describe());
    CHECK(checked.out.starts_with(home_profile.string() + ": OK"));
  }
}

TEST_SUITE("import") {
  TEST_CASE("the demo: its v2ray server relays only to loopback; the link it prints imports") {
    const std::filesystem::path root = std::filesystem::path(VMLOCAL_VECTORS_DIR) / ".." / "..";
    const json server = json::parse(read_text(root / "conf" / "demo" / "server.json"));
    CHECK(check_loopback_only(server) == "");

    auto link = run_command({"python3", (root / "scripts" / "lib" / "demo_link.py").string(),
                             (root / "conf" / "demo.toml").string()},
                            Deadline::after(10s));
    REQUIRE_MESSAGE(link.success(), link.describe());
    auto imported = import_command({link.out.substr(0, link.out.find('\n'))});
    REQUIRE_MESSAGE(imported.success(), imported.describe());
    const std::string uuid = server["inbounds"][0]["settings"]["clients"][0]["id"];
    const std::string port = std::to_string(server["inbounds"][0]["port"].get<int>());
    CHECK(imported.out.find("address = \"127.0.0.1\"\nport = " + port + "\nuuid = \"" + uuid +
                            "\"\n") != std::string::npos);

    // The lines the demo prints for the imported profile, pasted as printed: the printf line
    // appends a [probe] URL on the demo's web server and [route] private = "proxy".
    const std::string demo = read_text(root / "scripts" / "demo");
    const size_t at = demo.find("printf '\\n[probe]");
    REQUIRE(at != std::string::npos);
    const std::string printf_line = demo.substr(at, demo.find('\n', at) - at);
    CHECK(printf_line.ends_with(" >> ~/.config/vmess-local/config.toml"));
    TempDir home;
    const EnvVars env = {{"HOME", home.path().string()}, {"XDG_CONFIG_HOME", ""}};
    const auto profile = home.path() / ".config" / "vmess-local" / "config.toml";
    auto written =
        import_command({link.out.substr(0, link.out.find('\n')), "-o", profile.string()});
    REQUIRE_MESSAGE(written.success(), written.describe());
    auto pasted = run_command({"sh", "-c", printf_line}, Deadline::after(10s), env);
    REQUIRE_MESSAGE(pasted.success(), pasted.describe());
    auto checked = run_command({vmess_local_binary().string(), "check"}, Deadline::after(10s), env);
    CHECK_MESSAGE(checked.success(), checked.describe());
    const vmlocal::config::ProfileResult loaded = vmlocal::config::load_profile(profile.string());
    REQUIRE_MESSAGE(loaded.ok(), (loaded.ok() ? "" : loaded.error()));
    CHECK(loaded.profile().probe.url == "http://127.0.0.1:18080/probe");
    CHECK(loaded.profile().route.private_targets == vmlocal::route::Decision::kProxy);
    // The probe URL is a page the demo's web server has.
    CHECK(std::filesystem::exists(root / "conf" / "demo" / "www" / "probe"));
  }
}
