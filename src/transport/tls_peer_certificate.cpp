// TlsStream::peer_certificate: what the doctor shows about the server's certificate.
#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "vmlocal/transport/tls_stream.hpp"

namespace vmlocal::transport {
namespace {

std::string drain(BIO* bio) {
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(len > 0 ? len : 0));
  BIO_free(bio);
  return out;
}

std::string name_text(const X509_NAME* name) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr) return {};
  X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253);
  return drain(bio);
}

}  // namespace

std::optional<TlsStream::PeerCertificate> TlsStream::peer_certificate() const {
  if (ssl_ == nullptr) return std::nullopt;
  X509* cert = SSL_get1_peer_certificate(ssl_);
  if (cert == nullptr) return std::nullopt;
  PeerCertificate out;
  out.subject = name_text(X509_get_subject_name(cert));
  out.issuer = name_text(X509_get_issuer_name(cert));
  if (BIO* bio = BIO_new(BIO_s_mem())) {
    ASN1_TIME_print(bio, X509_get0_notAfter(cert));
    out.not_after = drain(bio);
  }
  out.expired = X509_cmp_current_time(X509_get0_notAfter(cert)) < 0;
  X509_free(cert);
  return out;
}

}  // namespace vmlocal::transport
