// Shared by the files that make up TlsStream (tls_stream*.cpp, tls_bio.cpp, tls_verify.cpp).
// Private to src/transport; see tls_internal.hpp for why libssl is included here.
#pragma once

#include <openssl/bio.h>
#include <openssl/ssl.h>

#include <cstddef>

#include "vmlocal/transport/tls_context.hpp"
#include "vmlocal/transport/tls_stream.hpp"

namespace vmlocal::transport {
namespace tls_internal {

// The write buffer starts with room for one record of plaintext (the most one TLS record
// carries); the rest holds ciphertext.
inline constexpr size_t kStagingSize = 16 * 1024;
inline constexpr size_t kOutCapacity = kTlsBufferSize - kStagingSize;
// Room an SSL_write of one full record needs (header, tag, padding, a KeyUpdate riding along).
inline constexpr size_t kRecordRoom = kStagingSize + 1024;
// Below this much room, move unread ciphertext to the front before lending the rest.
inline constexpr size_t kMinReadRoom = 16 * 1024;

}  // namespace tls_internal

// OpenSSL calls back with plain function pointers; these reach TlsStream's state through the
// BIO's or the SSL's app data.
struct TlsStream::Callbacks {
  // The BIO that connects OpenSSL to the stream's buffers (tls_bio.cpp).
  static BIO_METHOD* bio_method();
  static int bio_read(BIO* bio, char* out, size_t len, size_t* read);
  static int bio_write(BIO* bio, const char* data, size_t len, size_t* written);
  static long bio_ctrl(BIO* bio, int cmd, long num, void* ptr);
  static int bio_create(BIO* bio);

  // What the failure message needs to know (tls_verify.cpp): the server's alert, and the
  // key that matched no pin.
  static void on_info(const SSL* ssl, int where, int ret);
  static void note_pin(TlsStream* self, const PinSha256& pin);
};

}  // namespace vmlocal::transport
