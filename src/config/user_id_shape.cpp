// server.uuid values that load but look cut short (vmess::cut_uuid_warning): a warning, not a
// refusal, since Xray users may choose such text IDs. Read from the TOML again because the
// profile keeps only the UUID the text maps to.
#include <toml++/toml.h>

#include "diagnostic_text.hpp"
#include "problems.hpp"
#include "profile_sections.hpp"
#include "vmlocal/vmess/account.hpp"

namespace vmlocal::config {

void warn_cut_user_ids(const toml::table& root, std::string_view source_path,
                       const Profile& profile, std::vector<std::string>& warnings) {
  const toml::array* list = root.get("servers") ? root.get("servers")->as_array() : nullptr;
  const size_t count = list != nullptr ? list->size() : 1;
  for (size_t i = 0; i < count; ++i) {
    const std::string path =
        list != nullptr ? "servers[" + std::to_string(i) + "].uuid" : "server.uuid";
    const toml::node* node = root.at_path(path).node();
    const auto* text = node != nullptr ? node->as_string() : nullptr;
    if (text == nullptr) continue;
    const auto warning = vmess::cut_uuid_warning(text->get());
    if (!warning) continue;
    std::string message = "server.uuid " + *warning;
    if (list != nullptr && i < profile.servers.size()) {
      message = "[[servers]] " + quote(profile.servers[i].name) + ": " + message;
    }
    warnings.push_back(format_problem(source_path, position_of(node->source()), message));
  }
}

}  // namespace vmlocal::config
