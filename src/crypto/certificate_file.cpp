#include "vmlocal/crypto/certificate_file.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <system_error>

namespace vmlocal::crypto {

std::string certificate_file_problem(const std::string& path) {
  // Only regular files of a sane size: a device or FIFO named by mistake must not hang the load.
  constexpr off_t kMaxSize = 16 << 20;  // the system bundle is ~200 KiB
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    return "cannot be read: " + std::system_category().message(errno);
  }
  if (!S_ISREG(info.st_mode)) return "is not a regular file";
  if (info.st_size > kMaxSize) return "is too large for a certificate file";
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    return "cannot be read: " + std::system_category().message(errno);
  }
  int count = 0;
  bool broken = false;
  for (;;) {
    X509* cert = PEM_read_X509(file, nullptr, nullptr, nullptr);
    if (cert == nullptr) {
      const unsigned long error = ERR_peek_last_error();
      // The loop ends with "no start line" at EOF; anything else is a damaged certificate.
      broken = error != 0 && ERR_GET_REASON(error) != PEM_R_NO_START_LINE;
      ERR_clear_error();
      break;
    }
    X509_free(cert);
    ++count;
  }
  const bool read_error = std::ferror(file) != 0;
  std::fclose(file);
  if (read_error) return "cannot be read";
  if (broken) return "holds a damaged PEM certificate";
  if (count == 0) return "holds no PEM certificate (-----BEGIN CERTIFICATE-----)";
  return {};
}

}  // namespace vmlocal::crypto
