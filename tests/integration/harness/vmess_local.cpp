#include "harness/vmess_local.hpp"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <thread>

#include "harness/ports.hpp"
#include "harness/v2ray_server.hpp"

namespace vmlocal::itest {
namespace {

// Another process can take a kernel-chosen port between our probe and the binary's bind.
constexpr int kStartAttempts = 3;

// TOML basic string: quotes, backslashes and control characters escaped.
std::string toml_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char esc[8];
          std::snprintf(esc, sizeof esc, "\\u%04x", static_cast<unsigned>(c));
          out += esc;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string seconds(std::chrono::milliseconds ms) {
  if (ms.count() % 1000 == 0) return std::to_string(ms.count() / 1000);
  char text[32];
  std::snprintf(text, sizeof text, "%.3f", static_cast<double>(ms.count()) / 1000.0);
  return text;
}

}  // namespace

VmessLocalProfile VmessLocalProfile::for_server(const V2rayServer& server) {
  VmessLocalProfile p;
  p.server_address = server.endpoint().host;
  p.server_port = server.port();
  p.uuid = server.uuid();
  p.alter_id = server.alter_id();
  return p;
}

VmessLocalProfile::Server VmessLocalProfile::Server::for_server(const V2rayServer& server,
                                                                std::string name) {
  Server s;
  s.name = std::move(name);
  s.address = server.endpoint().host;
  s.port = server.port();
  s.uuid = server.uuid();
  return s;
}

std::string VmessLocalProfile::to_toml() const {
  std::string t = "[local]\nlisten = [";
  for (std::size_t i = 0; i < listen.size(); ++i) {
    t += (i ? ", " : "") + toml_string(listen[i].to_string());
  }
  t += "]\n";
  if (credentials) {
    t += "username = " + toml_string(credentials->username) + "\n";
    t += "password = " + toml_string(credentials->password) + "\n";
  }
  if (allow_open_proxy) t += "allow_open_proxy = true\n";
  if (max_connections > 0) t += "max_connections = " + std::to_string(max_connections) + "\n";
  t += "workers = " + std::to_string(workers) + "\n";
  if (!protocols.empty()) {
    t += "protocols = [";
    for (std::size_t i = 0; i < protocols.size(); ++i)
      t += (i ? ", " : "") + toml_string(protocols[i]);
    t += "]\n";
  }
  if (!extra_local_toml.empty()) t += extra_local_toml + "\n";
  t += more_servers.empty() ? "\n[server]\n" : "\n[[servers]]\n";
  if (!server_name.empty()) t += "name = " + toml_string(server_name) + "\n";
  t += "address = " + toml_string(server_address) + "\n";
  t += "port = " + std::to_string(server_port) + "\n";
  t += "uuid = " + toml_string(uuid) + "\n";
  t += "alter_id = " + std::to_string(alter_id) + "\n";
  t += "security = " + toml_string(security) + "\n";
  t += "transport = " + toml_string(transport) + "\n";
  if (tcp_fast_open) t += "tcp_fast_open = true\n";
  if (warm) t += "warm = " + std::to_string(*warm) + "\n";
  if (warm_max_age) t += "warm_max_age = " + seconds(*warm_max_age) + "\n";
  if (!clock_offset.empty()) t += "clock_offset = " + clock_offset + "\n";
  if (mux)
    t +=
        more_servers.empty() ? "[server.mux]\nenabled = true\n" : "[servers.mux]\nenabled = true\n";
  for (const Server& more : more_servers) {
    t += "\n[[servers]]\n";
    if (!more.name.empty()) t += "name = " + toml_string(more.name) + "\n";
    t += "address = " + toml_string(more.address) + "\n";
    t += "port = " + std::to_string(more.port) + "\n";
    t += "uuid = " + toml_string(more.uuid) + "\n";
    t += "security = " + toml_string(more.security) + "\n";
    if (more.mux) t += "[servers.mux]\nenabled = true\n";
  }
  if (!route_private.empty()) t += "\n[route]\nprivate = " + toml_string(route_private) + "\n";
  t += "\n[timeouts]\n";
  t += "handshake = " + seconds(handshake_timeout) + "\n";
  t += "connect = " + seconds(connect_timeout) + "\n";
  t += "idle = " + seconds(idle_timeout) + "\n";
  t += "shutdown_grace = " + seconds(shutdown_grace) + "\n";
  t += "\n[log]\nlevel = " + toml_string(log_level) + "\n";
  t += "\n[probe]\nurl = " + toml_string(probe_url) + "\ntimeout = " + probe_timeout + "\n";
  if (!probe_interval.empty()) t += "interval = " + probe_interval + "\n";
  if (!extra_toml.empty()) t += "\n" + extra_toml + "\n";
  return t;
}

std::filesystem::path vmess_local_binary() {
  const char* env = std::getenv("VMESS_LOCAL_BIN");
  if (env == nullptr || *env == '\0') {
    throw std::runtime_error(
        "VMESS_LOCAL_BIN is not set; run the integration tests via meson test");
  }
  auto found = find_program(env);
  if (!found) throw std::runtime_error(std::string("VMESS_LOCAL_BIN is not executable: ") + env);
  return *found;
}

Process launch_vmess_local(TempDir& dir, std::string_view profile_text,
                           const VmessLocalOptions& options, std::string_view stem) {
  // 0600: the loader warns about profiles other users can read (they hold the UUID).
  auto path = dir.write_file(std::string(stem) + ".toml", profile_text);
  auto binary = options.binary.empty() ? vmess_local_binary() : options.binary;
  std::vector<std::string> args{binary.string()};
  args.insert(args.end(), options.leading_args.begin(), options.leading_args.end());
  args.insert(args.end(), {"-c", path.string()});
  args.insert(args.end(), options.extra_args.begin(), options.extra_args.end());
  if (options.hosts) {
    // The bind mounts exist only in the new namespace; sh execs the binary, so the PID the
    // test signals and watches is vmess-local's own.
    auto hosts = dir.write_file(std::string(stem) + ".hosts", *options.hosts);
    auto resolv = dir.write_file(std::string(stem) + ".resolv.conf",
                                 "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n");
    std::vector<std::string> wrapped{
        "unshare",
        "-m",
        "--",
        "sh",
        "-c",
        "mount --bind \"$1\" /etc/hosts && mount --bind \"$2\" /etc/resolv.conf && shift 2 && "
        "exec \"$@\"",
        "vmess-local-mount-ns",  // $0
        hosts.string(),
        resolv.string()};
    wrapped.insert(wrapped.end(), args.begin(), args.end());
    args = std::move(wrapped);
  }
  return Process(std::move(args), dir.file(std::string(stem) + ".log"), options.env);
}

VmessLocal::VmessLocal(TempDir& dir, VmessLocalProfile profile, const VmessLocalOptions& options)
    : profile_(std::move(profile)) {
  const bool choose_ports = profile_.listen.empty();
  const auto deadline = Deadline::after(options.start_timeout);
  for (int attempt = 1;; ++attempt) {
    if (choose_ports) profile_.listen = {Endpoint::loopback(Family::kV4, free_port())};
    // Unique per process, so several instances in one TempDir keep their own logs.
    static std::atomic<int> launches{0};
    std::string stem = "vmess-local-" + std::to_string(++launches);
    profile_path_ = dir.file(stem + ".toml");
    process_.reset();
    process_.emplace(launch_vmess_local(dir, profile_.to_toml(), options, stem));
    try {
      // A probe alone can be answered by another process that grabbed the port first; the
      // binary's own "listening on" line (info level and up) proves it bound them.
      if (profile_.log_level == "info" || profile_.log_level == "debug") {
        while (process_->log_text().find("listening on") == std::string::npos) {
          if (!process_->alive() || deadline.expired()) {
            throw std::runtime_error("vmess-local did not start listening:\n" +
                                     process_->describe_with_log());
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
      }
      for (const auto& at : profile_.listen)
        wait_until_accepting(at, *process_, deadline);
      return;
    } catch (const std::runtime_error&) {
      bool port_taken = choose_ports && !process_->alive() &&
                        process_->log_text().find("in use") != std::string::npos;
      if (!port_taken || attempt == kStartAttempts) throw;
    }
  }
}

Socks5Client VmessLocal::socks_client() const {
  Socks5Client::Options options;
  options.credentials = profile_.credentials;
  return Socks5Client(socks_endpoint(), options);
}

Socket VmessLocal::open(const Socks5Target& target, Deadline deadline) const {
  auto r = socks_client().connect(target, deadline);
  if (!r.ok()) throw std::runtime_error(r.describe() + "\n" + log_text());
  return std::move(r.socket);
}

}  // namespace vmlocal::itest
