// load_profile: the thin file wrapper around parse_profile, plus the permission check that
// only makes sense for a file.
#include "vmlocal/config/profile.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <system_error>

#include "diagnostic_text.hpp"

namespace vmlocal::config {
namespace {

// A profile is a few hundred bytes; the limit keeps a wrong path (a disk image, a log) from
// being read into memory.
constexpr size_t kMaxFileSize = 1 << 20;

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

ProfileResult load_profile(const std::string& path) {
  ProfileResult result;
  auto fail = [&](const std::string& why) {
    result.value = path + ": " + why;
    return result;
  };
  auto cannot_read = [&](int error) {
    return fail("cannot read: " + std::system_category().message(error));
  };

  const FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return cannot_read(errno);
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) return cannot_read(errno);
  const bool regular = S_ISREG(info.st_mode);
  if (regular && static_cast<size_t>(info.st_size) > kMaxFileSize) {
    return fail("too large for a profile (" + std::to_string(info.st_size) +
                " bytes); is this the right file?");
  }

  // Read to EOF rather than st_size bytes: pipes ("<(...)") have no size.
  std::string text;
  char buffer[4096];
  while (true) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return cannot_read(errno);
    if (n == 0) break;
    text.append(buffer, static_cast<size_t>(n));
    if (text.size() > kMaxFileSize) return fail("too large for a profile; is this the right file?");
  }

  result = parse_profile(text, path);

  // The profile holds the UUID, which is the whole credential for the server; a file others
  // can write could also point this client at a server of their choosing.
  if (regular) {
    // Read access for the file's group is fine when that group is the one this process runs
    // as: the systemd units' profiles are root:vmess-local 0640, and with Debian's user private
    // groups a user's own group holds only that user.
    const bool group_is_ours = info.st_gid == ::getegid();
    const bool readable =
        (info.st_mode & S_IROTH) != 0 || ((info.st_mode & S_IRGRP) != 0 && !group_is_ours);
    const bool writable = (info.st_mode & (S_IWGRP | S_IWOTH)) != 0;
    if (readable || writable) {
      const std::string what = readable && writable ? "readable and writable"
                               : readable           ? "readable"
                                                    : "writable";
      result.warnings.push_back(path + ": " + what + " by other users; run chmod 600 " +
                                shell_quote(path));
    }
  }
  return result;
}

}  // namespace vmlocal::config
