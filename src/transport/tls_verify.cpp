// Why a TLS connection failed, in words a user can act on: the certificate check (system CA,
// ca_file, or pinned keys), the server's alerts, and OpenSSL's error queue. See
// tls_internal.hpp for why libssl is included here.
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <string>

#include "tls_internal.hpp"
#include "tls_stream_internal.hpp"
#include "vmlocal/crypto/base64.hpp"

namespace vmlocal::transport {
namespace {

std::string verify_hint(long result, const TlsOptions& options) {
  switch (result) {
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
      return options.ca_file.empty()
                 ? " (no CA in the system store vouches for it: set [server.tls] ca_file to the "
                   "server's CA certificate, or pin_sha256 to its key)"
                 : " (not signed by the CA in ca_file " + options.ca_file + ")";
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
      return " (the certificate is not valid for \"" + options.verify_name +
             "\"; if the server's certificate names another host, set [server.tls] sni to it)";
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return " (or this computer's clock is wrong)";
    default:
      return {};
  }
}

}  // namespace

void TlsStream::Callbacks::on_info(const SSL* ssl, int where, int ret) {
  if ((where & SSL_CB_READ_ALERT) != SSL_CB_READ_ALERT) return;
  if ((ret & 0xFF) == SSL_AD_CLOSE_NOTIFY) return;
  auto* self = static_cast<TlsStream*>(SSL_get_app_data(ssl));
  if (self != nullptr) self->alert_ = SSL_alert_desc_string_long(ret);
}

void TlsStream::Callbacks::note_pin(TlsStream* self, const PinSha256& pin) {
  self->pin_mismatch_ = crypto::base64_encode(pin);
}

namespace tls_internal {

int verify_pinned(X509_STORE_CTX* store, void* arg) {
  const auto* context = static_cast<const TlsContext*>(arg);
  X509* leaf = X509_STORE_CTX_get0_cert(store);
  PinSha256 pin{};
  if (leaf == nullptr || !spki_sha256(leaf, pin)) {
    X509_STORE_CTX_set_error(store, X509_V_ERR_UNSPECIFIED);
    return 0;
  }
  for (const PinSha256& wanted : context->options().pins) {
    if (wanted == pin) {
      X509_STORE_CTX_set_error(store, X509_V_OK);
      return 1;
    }
  }
  auto* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  if (ssl != nullptr) {
    if (auto* stream = static_cast<TlsStream*>(SSL_get_app_data(ssl))) {
      TlsStream::Callbacks::note_pin(stream, pin);
    }
  }
  X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
  return 0;
}

}  // namespace tls_internal

std::string TlsStream::describe_failure(int rc, std::string_view during) {
  const int error = SSL_get_error(ssl_, rc);
  const unsigned long first = ERR_peek_error();
  const long verify = SSL_get_verify_result(ssl_);
  std::string message;
  if (!pin_mismatch_.empty()) {
    message = "TLS: certificate pin mismatch: the server's key has pin_sha256 \"" + pin_mismatch_ +
              "\", which is not one of the pins in the profile";
  } else if (first != 0 && ERR_GET_REASON(first) == SSL_R_CERTIFICATE_VERIFY_FAILED &&
             verify != X509_V_OK) {
    message = std::string("TLS: certificate verify failed: ") +
              X509_verify_cert_error_string(verify) + verify_hint(verify, context_.options());
  } else if (!alert_.empty()) {
    message = "TLS: alert from the server during the " + std::string(during) + ": " + alert_;
  } else if (first != 0) {
    message = "TLS: " + std::string(during) + " failed: " + tls_internal::take_openssl_error();
  } else if (error == SSL_ERROR_SYSCALL) {
    message = "TLS: " + std::string(during) + " failed: the connection broke";
  } else {
    message =
        "TLS: " + std::string(during) + " failed (OpenSSL error " + std::to_string(error) + ")";
  }
  ERR_clear_error();
  return message;
}

}  // namespace vmlocal::transport
