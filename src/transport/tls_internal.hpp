// Shared by tls_context.cpp and the TlsStream files (verify_pinned is in tls_verify.cpp).
// Private to src/transport.
// One of the two places outside src/crypto that include OpenSSL: a TLS transport is libssl.
#pragma once

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <string>

#include "vmlocal/transport/tls_context.hpp"

namespace vmlocal::transport::tls_internal {

// SSL_CTX_set_cert_verify_callback for pinned keys: accepts the chain iff the leaf's
// SubjectPublicKeyInfo hashes to one of the context's pins.
int verify_pinned(X509_STORE_CTX* store, void* context);

// SHA-256 of the certificate's DER SubjectPublicKeyInfo.
bool spki_sha256(X509* cert, PinSha256& out);

// The error queue's first entry as text ("wrong version number"), and clears the queue.
std::string take_openssl_error();

}  // namespace vmlocal::transport::tls_internal
