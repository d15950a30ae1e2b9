// `vmess-local import`: each link form and config form, field by field in the TOML written;
// malformed input, one clear line each; what cannot be honoured fails or is named.
#include <doctest/doctest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "vmlocal/config/profile.hpp"
#include "vmlocal/crypto/base64.hpp"
#include "vmlocal/import/argument.hpp"
#include "vmlocal/import/features.hpp"
#include "vmlocal/import/import.hpp"

using namespace vmlocal;

namespace {

constexpr std::string_view kUuid = "b831381d-6324-4d53-ad4f-8cda48b30811";

std::string v2rayn_link(const nlohmann::json& fields, bool url_safe = false, bool pad = true) {
  std::string text = crypto::base64_encode(as_bytes(fields.dump()));
  if (url_safe) {
    for (char& c : text)
      c = c == '+' ? '-' : c == '/' ? '_' : c;
  }
  if (!pad) text.erase(text.find_last_not_of('=') + 1);
  return "vmess://" + text;
}

nlohmann::json base_fields() {
  return {{"v", "2"},      {"ps", "Tokyo"}, {"add", "vmess.example.org"},
          {"port", "443"}, {"id", kUuid},   {"aid", "0"},
          {"scy", "auto"}, {"net", "tcp"},  {"type", "none"},
          {"host", ""},    {"path", ""},    {"tls", ""}};
}

// The servers' TOML without the header comment and [local] (the same for every test).
std::string servers_toml(const import::ImportResult& result) {
  const std::string text = import::to_toml(result.servers, {});
  const std::string local =
      "[local]\n# listen = [\"127.0.0.1:1080\"]  # the default: where your "
      "apps find the proxy\n"
      "\n# [probe]\n"
      "# A URL fetched through the server to check it end to end: `vmess-local doctor` fetches\n"
      "# it; vmess-local fetches it to fail fast when the server refuses us, and (with several\n"
      "# servers) as the health check. Set a URL the server can reach that answers quickly and\n"
      "# small (an HTTP 204 endpoint); url = \"\" turns the probes off.\n# Default: "
      "\"https://www.gstatic.com/generate_204\".\n"
      "# url = \"https://www.gstatic.com/generate_204\"\n\n";
  REQUIRE(text.starts_with(local));
  return text.substr(local.size());
}

import::ImportResult imported(std::string_view text){
    import::ImportResult result = import::import_text(text);
INFO((result.errors.empty() ? "" : result.errors.front()));
REQUIRE(result.errors.empty());
REQUIRE(result.servers.size() >= 1);
return result;
}  // namespace

std::string one_error(std::string_view text) {
  const import::ImportResult result = import::import_text(text);
  CHECK(result.servers.empty());
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors.front().find('\n') == std::string::npos);
  CHECK(result.errors.front().find(kUuid) == std::string::npos);
  return result.errors.front();
}

bool warned(const import::ImportResult& result, std::string_view needle) {
  for (const std::string& warning : result.warnings) {
    if (warning.find(needle) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("import: v2rayN link, tcp, field by field") {
  const auto result = imported(v2rayn_link(base_fields()));
  CHECK(servers_toml(result) ==
        "[server]\n"
        "# Tokyo\n"
        "address = \"vmess.example.org\"\n"
        "port = 443\n"
        "uuid = \"b831381d-6324-4d53-ad4f-8cda48b30811\"\n"
        "alter_id = 0\n"
        "security = \"auto\"\n"
        "transport = \"tcp\"\n");
  CHECK(result.warnings.empty());
}

TEST_CASE("import: v2rayN link, ws + tls, numbers as numbers, URL-safe base64 without padding") {
  nlohmann::json fields = base_fields();
  fields["port"] = 8443;
  fields["aid"] = 4;
  fields["scy"] = "chacha20-poly1305";
  fields["net"] = "ws";
  fields["host"] = "cdn.example.org";
  fields["path"] = "/ray?x=1";
  fields["tls"] = "tls";
  fields["sni"] = "sni.example.org";
  for (bool url_safe : {false, true}) {
    for (bool pad : {false, true}) {
      CAPTURE(url_safe);
      CAPTURE(pad);
      const auto result = imported(v2rayn_link(fields, url_safe, pad));
      CHECK(servers_toml(result) ==
            "[server]\n"
            "# Tokyo\n"
            "address = \"vmess.example.org\"\n"
            "port = 8443\n"
            "uuid = \"b831381d-6324-4d53-ad4f-8cda48b30811\"\n"
            "alter_id = 4\n"
            "security = \"chacha20-poly1305\"\n"
            "transport = \"ws\"\n"
            "\n"
            "[server.tls]\n"
            "sni = \"sni.example.org\"\n"
            "\n"
            "[server.ws]\n"
            "path = \"/ray?x=1\"\n"
            "host = \"cdn.example.org\"\n");
    }
  }
}

TEST_CASE("import: v2rayN link: tls takes host for a missing sni; alpn over tcp; fp warned") {
  nlohmann::json fields = base_fields();
  fields["tls"] = "tls";
  fields["host"] = "front.example.org";
  fields["alpn"] = "h2,http/1.1";
  fields["fp"] = "chrome";
  const auto result = imported(v2rayn_link(fields));
  CHECK(
      servers_toml(result).ends_with("[server.tls]\n"
                                     "sni = \"front.example.org\"\n"
                                     "alpn = [\"h2\", \"http/1.1\"]\n"));
  CHECK(warned(result, "Tokyo\"): fp \"chrome\" (a browser's TLS fingerprint) is ignored"));
}

TEST_CASE("import: ws early data in the path") {
  nlohmann::json fields = base_fields();
  fields["net"] = "ws";
  fields["path"] = "/ws?ed=2048";
  const auto result = imported(v2rayn_link(fields));
  if (import::supported(import::Feature::kWsEarlyData)) {
    CHECK(
        servers_toml(result).ends_with("[server.ws]\npath = \"/ws\"\nmax_early_data = 2048\n"
                                       "early_data_header = \"Sec-WebSocket-Protocol\"\n"));
  } else {
    CHECK(servers_toml(result).ends_with("[server.ws]\npath = \"/ws\"\n"));
    CHECK(warned(result, "WebSocket early data (2048 bytes) is not supported by this build"));
  }
}

TEST_CASE("import: a string id in a link becomes Xray's UUIDv5") {
  nlohmann::json fields = base_fields();
  fields["id"] = "example";
  CHECK(servers_toml(imported(v2rayn_link(fields)))
            .find("uuid = \"feb54431-301b-52bb-a6dd-e1e93e81bb9e\"\n") != std::string::npos);
  fields["id"] = "b831381d63244d53ad4f8cda48b30811";
  CHECK(servers_toml(imported(v2rayn_link(fields))).find(std::string(kUuid)) != std::string::npos);
}

TEST_CASE("import: URI form, field by field") {
  const auto result = imported(
      "vmess://b831381d-6324-4d53-ad4f-8cda48b30811@[2001:db8::7]:8443?type=ws&security=tls"
      "&path=%2Fa%20b&host=cdn.example.org&sni=sni.example.org&alpn=http%2F1.1"
      "&encryption=aes-128-gcm#My%20Server");
  CHECK(servers_toml(result) ==
        "[server]\n"
        "# My Server\n"
        "address = \"2001:db8::7\"\n"
        "port = 8443\n"
        "uuid = \"b831381d-6324-4d53-ad4f-8cda48b30811\"\n"
        "alter_id = 0\n"
        "security = \"aes-128-gcm\"\n"
        "transport = \"ws\"\n"
        "\n"
        "[server.tls]\n"
        "sni = \"sni.example.org\"\n"
        "\n"
        "[server.ws]\n"
        "path = \"/a%20b\"\n"
        "host = \"cdn.example.org\"\n");
}

TEST_CASE("import: URI form, tcp without parameters; unknown parameters are named") {
  const auto result = imported("vmess://example@1.2.3.4:80?flow=xtls-rprx-vision");
  CHECK(servers_toml(result) ==
        "[server]\n"
        "address = \"1.2.3.4\"\n"
        "port = 80\n"
        "uuid = \"feb54431-301b-52bb-a6dd-e1e93e81bb9e\"\n"
        "alter_id = 0\n"
        "security = \"auto\"\n"
        "transport = \"tcp\"\n");
  CHECK(warned(result, "link 1: parameter \"flow\" is not one VMess links define"));
}

TEST_CASE("import: a subscription, base64 or plain, to [[servers]] with unique names") {
  nlohmann::json second = base_fields();
  second["add"] = "two.example.org";
  const std::string list = v2rayn_link(base_fields()) + "\r\n\n" + v2rayn_link(second) +
                           "\nvmess://" + std::string(kUuid) + "@three.example.org:443#Tokyo\n";
  // Subscriptions wrap their base64 at 76 columns.
  std::string wrapped = crypto::base64_encode(as_bytes(list));
  for (size_t at = 76; at < wrapped.size(); at += 77)
    wrapped.insert(at, "\n");
  for (const std::string& text : {list, crypto::base64_encode(as_bytes(list)), wrapped}) {
    const auto result = imported(text);
    REQUIRE(result.servers.size() == 3);
    const std::string toml = servers_toml(result);
    CHECK(toml.starts_with("[[servers]]\nname = \"Tokyo\"\naddress = \"vmess.example.org\"\n"));
    CHECK(toml.find("[[servers]]\nname = \"Tokyo (2)\"\naddress = \"two.example.org\"\n") !=
          std::string::npos);
    CHECK(toml.find("[[servers]]\nname = \"Tokyo (3)\"\naddress = \"three.example.org\"\n") !=
          std::string::npos);
  }
}

TEST_CASE("import: a subscription keeps the good servers and names each bad one") {
  const std::string list = v2rayn_link(base_fields()) + "\nvless://" + std::string(kUuid) +
                           "@x.example.org:443\n"
                           "vmess://" +
                           std::string(kUuid) + "@y.example.org:443?type=quic\n";
  const import::ImportResult result = import::import_text(list);
  REQUIRE(result.servers.size() == 1);
  REQUIRE(result.errors.size() == 2);
  CHECK(result.errors[0] == "link 2: a vless:// link, not VMess: vmess-local speaks VMess only");
  CHECK(result.errors[1] ==
        "link 3: transport \"quic\" is not supported by vmess-local (it has tcp, ws, "
        "httpupgrade, h2 and grpc, with or without TLS)");
}

TEST_CASE("import: v2ray/Xray JSON config, every stream setting, field by field") {
  const nlohmann::json config = {
      {"log", {{"loglevel", "warning"}}},
      {"outbounds",
       {{{"protocol", "freedom"}, {"tag", "direct"}},
        {{"protocol", "vmess"},
         {"tag", "proxy"},
         {"settings",
          {{"vnext",
            {{{"address", "vmess.example.org"},
              {"port", 443},
              {"users", {{{"id", kUuid}, {"alterId", 0}, {"security", "aes-128-gcm"}}}}}}}}},
         {"streamSettings",
          {{"network", "ws"},
           {"security", "tls"},
           {"tlsSettings", {{"serverName", "sni.example.org"}, {"allowInsecure", true}}},
           {"wsSettings",
            {{"path", "/ws"},
             {"headers", {{"Host", "cdn.example.org"}, {"User-Agent", "Mozilla/5.0"}}}}}}}}}}};
  const auto result = imported(config.dump(2));
  CHECK(servers_toml(result) ==
        "[server]\n"
        "# proxy\n"
        "address = \"vmess.example.org\"\n"
        "port = 443\n"
        "uuid = \"b831381d-6324-4d53-ad4f-8cda48b30811\"\n"
        "alter_id = 0\n"
        "security = \"aes-128-gcm\"\n"
        "transport = \"ws\"\n"
        "\n"
        "[server.tls]\n"
        "sni = \"sni.example.org\"\n"
        "insecure = true\n"
        "\n"
        "[server.ws]\n"
        "path = \"/ws\"\n"
        "host = \"cdn.example.org\"\n"
        "headers = { \"User-Agent\" = \"Mozilla/5.0\" }\n");
  CHECK(warned(result, "the server's certificate will not be verified"));
}

TEST_CASE("import: JSON config with comments, tcp, mux, several users") {
  const std::string config = R"({
    // Xray accepts comments
    "outbounds": [{
      "protocol": "vmess", "mux": {"enabled": true, "concurrency": 4},
      "settings": {"vnext": [{"address": "10.0.0.1", "port": 10086,
                              "users": [{"id": "alice"}, {"id": "bob", "alterId": 64}]}]}
    }]
  })";
  const auto result = imported(config);
  REQUIRE(result.servers.size() == 2);
  CHECK(result.servers[0].uuid == "ec61d669-fc85-586b-a097-822a49b51e7e");
  CHECK(result.servers[1].alter_id == 64);
  CHECK(result.servers[0].name == "1");
  CHECK(result.warnings.empty());
  CHECK(servers_toml(result).find("[servers.mux]\nenabled = true\nconcurrency = 4\n") !=
        std::string::npos);
  const config::ProfileResult loaded =
      config::parse_profile(import::to_toml({result.servers[0]}, {}), "mux.toml");
  REQUIRE_MESSAGE(loaded.ok(), (loaded.ok() ? "" : loaded.error()));
  CHECK(loaded.profile().servers.front().mux.enabled);
  CHECK(loaded.profile().servers.front().mux.concurrency == 4);
}

TEST_CASE("import: JSON config: transports this build does not have fail that server") {
  auto with_stream = [](nlohmann::json stream) {
    return nlohmann::json{
        {"outbounds",
         {{{"protocol", "vmess"},
           {"settings",
            {{"vnext",
              {{{"address", "a.example.org"}, {"port", 443}, {"users", {{{"id", kUuid}}}}}}}}},
           {"streamSettings", stream}}}}}
        .dump();
  };
  CHECK(one_error(with_stream({{"network", "kcp"}})) ==
        "outbounds[0]: transport \"kcp\" is not supported by vmess-local (it has tcp, ws, "
        "httpupgrade, h2 and grpc, with or without TLS)");
  CHECK(one_error(with_stream({{"network", "tcp"}, {"security", "reality"}})) ==
        "outbounds[0]: security \"reality\" (Xray's REALITY) is not supported by vmess-local");
  if (!import::supported(import::Feature::kGrpc)) {
    CHECK(one_error(with_stream({{"network", "grpc"}, {"grpcSettings", {{"serviceName", "x"}}}})) ==
          "outbounds[0]: transport grpc is not supported by this build of vmess-local yet, so "
          "this server cannot be reached");
  }
  if (!import::supported(import::Feature::kTcpHttpHeader)) {
    CHECK(one_error(with_stream(
              {{"network", "tcp"}, {"tcpSettings", {{"header", {{"type", "http"}}}}}})) ==
          "outbounds[0]: tcp with an HTTP header (type http) is not supported by this build of "
          "vmess-local yet, so this server cannot be reached");
  }
}

TEST_CASE("import: malformed input, one clear line each, never the id") {
  CHECK(one_error("") == "nothing to import: the input is empty");
  CHECK(one_error("vmess://%%%%") ==
        "link 1: the text after vmess:// is neither base64 (v2rayN's form) nor UUID@HOST:PORT (the "
        "URI form)");
  CHECK(one_error("vmess://" + crypto::base64_encode(as_bytes(std::string("{\"add\": ")))) ==
        "link 1: the link looks cut off (copy it whole)");
  CHECK(one_error("vmess://" + crypto::base64_encode(as_bytes(std::string("{\"add\": }")))) ==
        "link 1: the base64 after vmess:// decodes to text that is not valid JSON (line 1, "
        "column 9)");
  CHECK(one_error("vmess://" + crypto::base64_encode(as_bytes(std::string("[1]")))) ==
        "link 1: the base64 after vmess:// decodes to JSON a list, not an object with add, port "
        "and id");
  nlohmann::json fields = base_fields();
  fields.erase("add");
  CHECK(one_error(v2rayn_link(fields)) ==
        "link 1 (\"Tokyo\"): missing field \"add\" (the server's address)");
  fields = base_fields();
  fields.erase("id");
  CHECK(one_error(v2rayn_link(fields)) ==
        "link 1 (\"Tokyo\"): missing field \"id\" (your user ID)");
  fields = base_fields();
  fields["port"] = "https";
  CHECK(one_error(v2rayn_link(fields)) ==
        "link 1 (\"Tokyo\"): field \"port\" must be a whole number 0..65535, got \"https\"");
  fields = base_fields();
  fields["port"] = true;
  CHECK(one_error(v2rayn_link(fields)) ==
        "link 1 (\"Tokyo\"): field \"port\" must be a whole number 0..65535, got true");
  fields = base_fields();
  fields["add"] = 12;
  CHECK(one_error(v2rayn_link(fields)) ==
        "link 1 (\"Tokyo\"): field \"add\" must be a string, got a number");
  fields = base_fields();
  fields["id"] = "b831381d-6324-4d53-ad4f-8cda48b3081";  // one digit short
  CHECK(one_error(v2rayn_link(fields)) ==
        "link 1 (\"Tokyo\"): field \"id\" is not a user ID (a UUID, 8-4-4-4-12 hex digits, or a "
        "name of 1..30 bytes)");
  fields = base_fields();
  fields["scy"] = "aes-128-cfb";
  CHECK(one_error(v2rayn_link(fields)) ==
        "link 1 (\"Tokyo\"): field \"scy\" \"aes-128-cfb\" is not a VMess security vmess-local has "
        "(auto, aes-128-gcm, chacha20-poly1305, none, zero)");
  fields = base_fields();
  fields["add"] = "bad host!";
  CHECK(one_error(v2rayn_link(fields)).starts_with("link 1 (\"Tokyo\"): server.address "));
  CHECK(one_error("vmess://" + std::string(kUuid) + "@host.example.org") ==
        "link 1: missing the port: the server after \"@\" must be HOST:PORT");
  CHECK(one_error("vmess://" + std::string(kUuid) + "@host.example.org:0") ==
        "link 1: the port \"0\" must be a number 1..65535");
  CHECK(one_error("vmess://" + std::string(kUuid) + "@h.example.org:1?path=%zz") ==
        "link 1: the parameter \"path=%zz\" has a broken %-escape (\"%\" must be followed by two "
        "hex digits)");
  CHECK(one_error("{\"outbounds\": [") ==
        "the input starts like a v2ray/Xray JSON config but is not valid JSON (line 1, column 16)");
  // A number beyond a double: nlohmann's other exception (out_of_range), which once escaped.
  CHECK(one_error("{\"outbounds\": [{\"protocol\": 1e999}]}") ==
        "the input starts like a v2ray/Xray JSON config but is not valid JSON (a number too large "
        "to read)");
  CHECK(one_error("vmess://" + crypto::base64_encode(as_bytes(std::string("{\"port\": 1e999}")))) ==
        "link 1: the base64 after vmess:// decodes to text that is not valid JSON (a number too "
        "large to read)");
  CHECK(one_error(R"({"outbounds": [{"protocol": "vless"}, {"protocol": "freedom"}]})") ==
        "no vmess outbound in this config (its outbounds: vless, freedom)");
  CHECK(one_error(R"({"inbounds": [{"protocol": "vmess"}]})") ==
        "this is a server's config (a vmess inbound): import needs the client side, a config "
        "with a vmess outbound, or a vmess:// link");
  CHECK(one_error("[server]\naddress = \"x\"") ==
        "this looks like a vmess-local profile already: use it with -c");
  CHECK(one_error("hello") ==
        "not a vmess:// link, a subscription (links, plain or base64) or a v2ray/Xray JSON config");
}

TEST_CASE("import: what it writes loads, and the v2rayN link it makes reads back the same") {
  nlohmann::json fields = base_fields();
  fields["net"] = "ws";
  fields["tls"] = "tls";
  fields["path"] = "/w";
  fields["ps"] = "quote \" back\\slash\nnewline";
  const auto first = imported(v2rayn_link(fields));
  const std::string profile = import::to_toml(first.servers, {"test", {"127.0.0.1:1081"}});
  const config::ProfileResult loaded = config::parse_profile(profile, "imported.toml");
  REQUIRE_MESSAGE(loaded.ok(), (loaded.ok() ? "" : loaded.error()));
  CHECK(loaded.profile().local.listen.front().port == 1081);
  CHECK(loaded.profile().servers.front().ws.path == "/w");
  CHECK(loaded.profile().servers.front().tls.has_value());

  const auto again = imported(import::to_v2rayn_link(first.servers.front()));
  CHECK(import::to_toml(again.servers, {}) == import::to_toml(first.servers, {}));
}

TEST_CASE("import: long names from a provider are cut to what [[servers]] takes, and load") {
  // 30 × "é" (2 bytes each) + "x" × 20 = 80 bytes; twice, so the second needs " (2)" too.
  std::string long_name;
  for (int i = 0; i < 30; ++i)
    long_name += "\xc3\xa9";
  long_name += std::string(20, 'x');
  nlohmann::json fields = base_fields();
  fields["ps"] = long_name;
  const auto one = imported(v2rayn_link(fields));
  const auto two = imported(v2rayn_link(fields));
  std::vector<import::ImportedServer> servers = {one.servers.front(), two.servers.front()};
  const config::ProfileResult loaded =
      config::parse_profile(import::to_toml(servers, {}), "imported.toml");
  REQUIRE_MESSAGE(loaded.ok(), (loaded.ok() ? "" : loaded.error()));
  const auto& names = loaded.profile().servers;
  REQUIRE(names.size() == 2);
  // Cut at a character boundary: 32 "é" would be 64 bytes, but only 30 are there, then x's.
  CHECK(names[0].name == long_name.substr(0, 64));
  CHECK(names[1].name.size() <= 64);
  CHECK(names[1].name.ends_with(" (2)"));
  CHECK(names[1].name.starts_with(long_name.substr(0, 60)));
  // A cut inside a two-byte character steps back to its start.
  fields["ps"] = std::string(63, 'a') + "\xc3\xa9" + "tail";
  const auto odd = imported(v2rayn_link(fields));
  servers = {odd.servers.front(), one.servers.front()};
  const config::ProfileResult cut =
      config::parse_profile(import::to_toml(servers, {}), "imported.toml");
  REQUIRE_MESSAGE(cut.ok(), (cut.ok() ? "" : cut.error()));
  CHECK(cut.profile().servers[0].name == std::string(63, 'a'));
}

TEST_CASE("import: the profile explains [probe], and uncommented it sets the URL doctor uses") {
  const auto first = imported(v2rayn_link(base_fields()));
  const std::string profile = import::to_toml(first.servers, {"test", {}});
  CHECK(profile.find("\n# [probe]\n") != std::string::npos);
  CHECK(profile.find("`vmess-local doctor` fetches") != std::string::npos);
  CHECK(profile.find("Set a URL the server can reach") != std::string::npos);
  // The commented default is the loader's default: uncommenting changes nothing but url_set.
  const std::string url = config::Profile::Probe{}.url;
  CHECK(profile.find("# url = \"" + url + "\"\n") != std::string::npos);
  std::string uncommented = profile;
  for (const std::string& line : std::vector<std::string>{"[probe]", "url = \"" + url + "\""}) {
    const size_t at = uncommented.find("\n# " + line + "\n");
    REQUIRE(at != std::string::npos);
    uncommented.erase(at + 1, 2);
  }
  const config::ProfileResult loaded = config::parse_profile(uncommented, "imported.toml");
  REQUIRE_MESSAGE(loaded.ok(), (loaded.ok() ? "" : loaded.error()));
  CHECK(loaded.profile().probe.url_set);
  CHECK(loaded.profile().probe.url == url);
  CHECK(loaded.profile().servers.size() == 1);
}

TEST_CASE("import: the transports built since tcp and ws import and load") {
  struct Case {
    std::vector<std::pair<std::string, std::string>> fields;
    std::string toml_tail;
  };
  const Case cases[] = {
      {{{"net", "h2"}, {"host", "a.example,b.example"}, {"path", "/v2"}, {"tls", "tls"}},
       "[server.h2]\npath = \"/v2\"\nhost = [\"a.example\", \"b.example\"]\n"},
      {{{"net", "grpc"}, {"path", "svc"}, {"tls", "tls"}},
       "[server.grpc]\nservice_name = \"svc\"\n"},
      {{{"net", "httpupgrade"}, {"path", "/up"}, {"host", "cdn.example.org"}},
       "[server.httpupgrade]\npath = \"/up\"\nhost = \"cdn.example.org\"\n"},
      {{{"net", "tcp"}, {"type", "http"}, {"host", "a.example"}, {"path", "/a"}},
       "[server.tcp]\nheader = \"http\"\n"},
  };
  for (const Case& c : cases) {
    nlohmann::json fields = base_fields();
    for (const auto& [key, value] : c.fields)
      fields[key] = value;
    CAPTURE(fields.dump());
    const auto result = imported(v2rayn_link(fields));
    REQUIRE(result.errors.empty());
    CHECK(servers_toml(result).find(c.toml_tail) != std::string::npos);
  }
}

TEST_CASE("import argument: a pasted link or text is text, never a path to echo") {
  auto none = [](const std::string&) { return false; };
  const std::string link = "vmess://" + std::string(kUuid) + "@127.0.0.1:21002";
  auto kind = [&](std::string_view argument) {
    return import::classify_argument(argument, none).kind;
  };
  CHECK(kind("-") == import::ArgumentKind::kStandardInput);
  CHECK(kind(" " + link) == import::ArgumentKind::kText);  // a pasted leading space
  CHECK(kind("VMESS://" + std::string(kUuid) + "@127.0.0.1:21002") == import::ArgumentKind::kText);
  CHECK(kind("vless://" + std::string(kUuid) + "@127.0.0.1:443?type=ws#x") ==
        import::ArgumentKind::kText);
  CHECK(kind(link + "\n") == import::ArgumentKind::kText);
  CHECK(kind(std::string(kUuid) + "@127.0.0.1:21002") == import::ArgumentKind::kText);
  const std::string body = v2rayn_link(base_fields()).substr(8);
  CHECK(kind(body) == import::ArgumentKind::kText);
  CHECK(kind(body.substr(0, 60)) == import::ArgumentKind::kText);     // cut, and still base64
  CHECK(kind(std::string(300, 'a')) == import::ArgumentKind::kText);  // longer than NAME_MAX
  CHECK(kind("links.txt") == import::ArgumentKind::kFile);
  CHECK(kind("/home/me/sub scription.txt") == import::ArgumentKind::kFile);
  CHECK(kind("e30=") == import::ArgumentKind::kFile);  // "{}", but too short to be a link

  const import::Argument url =
      import::classify_argument(" HTTPS://user:token@sub.example.org:8443/s/token?x=1 ", none);
  CHECK(url.kind == import::ArgumentKind::kUrl);
  CHECK(url.value == "HTTPS://user:token@sub.example.org:8443/s/token?x=1");
  CHECK(url.source == "the subscription at https://sub.example.org:8443");
  CHECK(import::classify_argument(" " + link, none).source == "a vmess:// link");
  CHECK(import::classify_argument(body, none).source == "the text given");

  // A file that exists is read, even when its name could be text; a trimmed name too.
  auto exists = [&](const std::string& path) { return path == body || path == "my links.txt"; };
  CHECK(import::classify_argument(body, exists).kind == import::ArgumentKind::kFile);
  const import::Argument spaced = import::classify_argument(" my links.txt\n", exists);
  CHECK(spaced.kind == import::ArgumentKind::kFile);
  CHECK(spaced.value == "my links.txt");
  CHECK(import::classify_argument("vmess://x@h:1", [](const std::string&) { return true; }).kind ==
        import::ArgumentKind::kText);
}

TEST_CASE("import argument: a path is echoed only when it does not look like it holds an ID") {
  CHECK(import::path_for_message("/tmp/links.txt") == "/tmp/links.txt");
  CHECK(import::path_for_message("a\nb") == "a\\x0ab");
  CHECK(import::path_for_message("backup-2024-05-01.json") == "backup-2024-05-01.json");
  const std::string hidden =
      "the file given (its name looks like it holds a user ID, so it is not shown)";
  CHECK(import::path_for_message("/tmp/" + std::string(kUuid)) == hidden);
  CHECK(import::path_for_message("b831381d63244d53ad4f8cda48b30811") == hidden);
  CHECK(import::path_for_message(std::string(kUuid).substr(0, 13)) == hidden);  // a cut UUID
  CHECK(import::path_for_message("b831381d6324ad4f") == hidden);                // 16 digits
}

TEST_CASE("import: the text of pasted links: any case of scheme, spaces, other protocols") {
  const std::string uri = std::string(kUuid) + "@127.0.0.1:21002";
  CHECK(imported(" vmess://" + uri + " \n").servers.front().port == 21002);
  CHECK(imported("VMESS://" + uri).servers.front().uuid == kUuid);
  CHECK(imported("VMess://" + uri).servers.front().address == "127.0.0.1");
  CHECK(one_error("vless://" + std::string(kUuid) + "@127.0.0.1:443?type=ws#x") ==
        "link 1: a vless:// link, not VMess: vmess-local speaks VMess only");
  CHECK(one_error("Trojan://secret@127.0.0.1:443") ==
        "link 1: a Trojan:// link, not VMess: vmess-local speaks VMess only");
  CHECK(one_error(uri) == "this looks like ID@HOST:PORT without vmess:// in front: add it");
  CHECK(one_error(uri + "?type=ws#name") ==
        "this looks like ID@HOST:PORT without vmess:// in front: add it");
}

TEST_CASE("import: a v2rayN link's base64 without vmess:// is read as one, and said so") {
  const std::string body = v2rayn_link(base_fields()).substr(8);
  const import::ImportResult result = imported(body);
  CHECK(result.servers.front().uuid == kUuid);
  CHECK(result.servers.front().address == "vmess.example.org");
  CHECK(warned(result,
               "link 1 (\"Tokyo\"): this looks like the base64 of a v2rayN link without "
               "its vmess:// prefix: read as one"));
  CHECK(one_error(body.substr(0, 60)) == "link 1: the link looks cut off (copy it whole)");
}

TEST_CASE("import: a v2rayN link cut short says so, wherever the cut falls") {
  nlohmann::json fields = base_fields();
  fields["ps"] = "a server with a longer name, as providers write them";
  const std::string link = v2rayn_link(fields, false, false);
  // Every cut after "vmess://eyJ2" (the first base64 quantum: '{', '"', 'v'): inside a quantum,
  // on its edge, inside a string of the JSON, between its fields.
  for (size_t length = 12; length < link.size() - 1; ++length) {
    CAPTURE(length);
    CHECK(one_error(link.substr(0, length)) == "link 1: the link looks cut off (copy it whole)");
  }
  // JSON that is wrong before its end keeps its own message.
  CHECK(one_error("vmess://" + crypto::base64_encode(as_bytes(std::string("{\"add\": ]}")))) ==
        "link 1: the base64 after vmess:// decodes to text that is not valid JSON (line 1, "
        "column 9)");
  // Text that is not base64 before its end either.
  CHECK(one_error("vmess://eyJ2Ijo%iMiIs") ==
        "link 1: the text after vmess:// is neither base64 (v2rayN's form) nor UUID@HOST:PORT (the "
        "URI form)");
}

TEST_CASE("import: a link's user ID cut short imports as an Xray text ID, with a warning") {
  const import::ImportResult uri = imported("vmess://3f1c2a4e8b7d4e219c550123456a@127.0.0.1:443");
  CHECK(warned(uri,
               "link 1: the user ID before \"@\" looks like a cut-off UUID (28 hex digits; a "
               "UUID has 32); v2ray needs the whole 8-4-4-4-12 form; other text is taken as "
               "an Xray text ID"));
  for (const std::string& warning : uri.warnings)
    CHECK(warning.find("3f1c2a4e") == std::string::npos);
  nlohmann::json fields = base_fields();
  fields["id"] = "b831381d-6324-4d53-ad4f";
  CHECK(warned(imported(v2rayn_link(fields)),
               "link 1 (\"Tokyo\"): field \"id\" looks like a cut-off UUID (23 characters: hex "
               "digits in groups 8-4-4-4)"));
  CHECK(imported(v2rayn_link(base_fields())).warnings.empty());
}
