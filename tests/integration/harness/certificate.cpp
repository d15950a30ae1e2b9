#include "harness/certificate.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <cstdio>
#include <stdexcept>

#include "harness/process.hpp"
#include "harness/sha256.hpp"

namespace vmlocal::itest {

using namespace std::chrono_literals;

Certificate make_certificate(TempDir& dir, std::string_view stem) {
  Certificate c;
  c.cert = dir.file(std::string(stem) + "-cert.pem");
  c.key = dir.file(std::string(stem) + "-key.pem");
  auto r = run_command({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                        "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                        "-keyout", c.key.string(), "-out", c.cert.string()},
                       Deadline::after(20s));
  if (!r.success()) throw std::runtime_error("openssl req: " + r.describe());

  std::FILE* f = std::fopen(c.cert.c_str(), "rb");
  if (f == nullptr) throw std::runtime_error("cannot open " + c.cert.string());
  X509* x509 = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  if (x509 == nullptr) throw std::runtime_error("cannot read " + c.cert.string());
  unsigned char* der = nullptr;
  const int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x509), &der);
  if (len <= 0) {
    X509_free(x509);
    throw std::runtime_error("cannot encode the public key of " + c.cert.string());
  }
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(der, static_cast<size_t>(len), digest);
  OPENSSL_free(der);
  X509_free(x509);
  unsigned char b64[64] = {};
  EVP_EncodeBlock(b64, digest, SHA256_DIGEST_LENGTH);
  c.pin_base64 = reinterpret_cast<const char*>(b64);
  c.pin_hex = to_hex(std::span<const std::uint8_t>(digest, SHA256_DIGEST_LENGTH));
  return c;
}

}  // namespace vmlocal::itest
