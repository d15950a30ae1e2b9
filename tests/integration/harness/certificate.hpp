// A self-signed P-256 certificate for "localhost" and 127.0.0.1 made per test with the openssl
// command, and its public key's pin (SHA-256 of the SubjectPublicKeyInfo).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "harness/temp_dir.hpp"

namespace vmlocal::itest {

struct Certificate {
  std::filesystem::path cert;
  std::filesystem::path key;
  std::string pin_base64;
  std::string pin_hex;
};

// Throws when openssl fails.
Certificate make_certificate(TempDir& dir, std::string_view stem = "server");

}  // namespace vmlocal::itest
