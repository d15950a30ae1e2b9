// A per-test scratch directory for configs and logs. Removed at the end unless the environment
// variable VMLOCAL_KEEP_TEST_DIRS is set (then its path is printed, for post-mortems).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace vmlocal::itest {

class TempDir {
 public:
  // `label` goes into the directory name; empty means the current test's name (see below).
  explicit TempDir(std::string_view label = {});
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path file(std::string_view name) const { return path_ / name; }
  // Writes `content` to file(name) with the given permission bits; returns the path.
  std::filesystem::path write_file(std::string_view name, std::string_view content,
                                   std::filesystem::perms perms = std::filesystem::perms(0600));

 private:
  std::filesystem::path path_;
  bool keep_ = false;
};

// The test runner reports the running test's name here so directories are easy to find.
void set_current_test_name(std::string_view name);

}  // namespace vmlocal::itest
