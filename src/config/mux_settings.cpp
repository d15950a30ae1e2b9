// [server.mux]: Mux.Cool on or off, and how many tunnels share one connection.
#include <toml++/toml.h>

#include "diagnostic_text.hpp"
#include "problems.hpp"
#include "profile_sections.hpp"

namespace vmlocal::config {

void read_mux(Problems& problems, const toml::node& node, MuxSettings& out) {
  const toml::table* table = node.as_table();
  if (table == nullptr) {
    problems.add(node.source(),
                 "server.mux must be a table written [server.mux], got " + describe(node));
    return;
  }
  check_keys(problems, *table, kServerMux);
  if (const toml::node* n = table->get("enabled")) {
    if (const auto* flag = n->as_boolean()) {
      out.enabled = flag->get();
    } else {
      problems.add(n->source(), "server.mux.enabled must be true or false, got " + describe(*n));
    }
  }
  // v2ray's own client allows 1..1024 (its "concurrency"); more than that many tunnels on one
  // connection only deepens the head-of-line blocking.
  if (const toml::node* n = table->get("concurrency")) {
    if (auto value = read_integer(problems, *n, "server.mux.concurrency", 1, 1024)) {
      out.concurrency = static_cast<uint32_t>(*value);
    }
  }
}

}  // namespace vmlocal::config
