#include "harness/temp_dir.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <stdexcept>
#include <system_error>

namespace vmlocal::itest {
namespace {

std::mutex g_name_mutex;
std::string g_test_name = "itest";

std::string sanitize(std::string_view label) {
  std::string out;
  for (char c : label) {
    bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '-' || c == '_';
    if (out.size() < 40) out.push_back(keep ? c : '_');
  }
  return out.empty() ? "itest" : out;
}

}  // namespace

void set_current_test_name(std::string_view name) {
  std::lock_guard lock(g_name_mutex);
  g_test_name = std::string(name);
}

TempDir::TempDir(std::string_view label) {
  std::string name;
  if (label.empty()) {
    std::lock_guard lock(g_name_mutex);
    name = sanitize(g_test_name);
  } else {
    name = sanitize(label);
  }
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/vmlocal-" + name + "-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error("mkdtemp " + pattern + ": " + std::strerror(errno));
  }
  path_ = pattern;
  keep_ = std::getenv("VMLOCAL_KEEP_TEST_DIRS") != nullptr;
}

TempDir::~TempDir() {
  if (keep_) {
    std::fprintf(stderr, "[itest] kept %s\n", path_.c_str());
    return;
  }
  std::error_code ec;  // a destructor must not throw; a leftover directory is harmless
  std::filesystem::remove_all(path_, ec);
}

std::filesystem::path TempDir::write_file(std::string_view name, std::string_view content,
                                          std::filesystem::perms perms) {
  auto p = file(name);
  {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    if (!out) throw std::runtime_error("cannot write " + p.string());
  }
  std::filesystem::permissions(p, perms);
  return p;
}

}  // namespace vmlocal::itest
