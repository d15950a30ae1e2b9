#include "support/vectors.hpp"

#include <fstream>
#include <map>
#include <mutex>
#include <stdexcept>

namespace vmlocal::test {

const nlohmann::json& load_vectors(std::string_view name) {
  static std::mutex mutex;
  static std::map<std::string, nlohmann::json, std::less<>> cache;
  std::lock_guard lock(mutex);
  if (auto it = cache.find(name); it != cache.end()) return it->second;
  std::string path = std::string(VMLOCAL_VECTORS_DIR) + "/" + std::string(name);
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open vector file " + path);
  return cache.emplace(std::string(name), nlohmann::json::parse(in)).first->second;
}

Bytes hex(std::string_view text) {
  auto bytes = from_hex(text);
  if (!bytes) throw std::runtime_error("bad hex in vectors: " + std::string(text.substr(0, 40)));
  return *bytes;
}

Bytes hex(const nlohmann::json& node) {
  return hex(node.get<std::string>());
}

}  // namespace vmlocal::test
