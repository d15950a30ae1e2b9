// The BIO between OpenSSL and TlsStream's borrowed buffers: OpenSSL reads ciphertext the inner
// stream delivered and writes ciphertext for the inner stream, with no socket of its own. See
// tls_internal.hpp for why libssl is included here.
#include <openssl/bio.h>

#include <algorithm>
#include <cstring>

#include "tls_stream_internal.hpp"

namespace vmlocal::transport {
namespace {

TlsStream* stream_of(BIO* bio) {
  return static_cast<TlsStream*>(BIO_get_data(bio));
}

}  // namespace

using tls_internal::kStagingSize;

int TlsStream::Callbacks::bio_read(BIO* bio, char* out, size_t len, size_t* read) {
  TlsStream* self = stream_of(bio);
  BIO_clear_retry_flags(bio);
  const size_t available = self->in_end_ - self->in_begin_;
  if (available == 0) {
    // EOF from the inner stream is tracked by TlsStream, so OpenSSL only ever waits here.
    BIO_set_retry_read(bio);
    *read = 0;
    return 0;
  }
  const size_t n = std::min(len, available);
  std::memcpy(out, self->in_->data.data() + self->in_begin_, n);
  self->in_begin_ += n;
  *read = n;
  return 1;
}

int TlsStream::Callbacks::bio_write(BIO* bio, const char* data, size_t len, size_t* written) {
  TlsStream* self = stream_of(bio);
  BIO_clear_retry_flags(bio);
  if (self->out_ == nullptr) {
    self->out_ = self->context_.buffers().acquire();
    self->out_sent_ = self->out_flight_end_ = self->out_len_ = 0;
  }
  const size_t n = std::min(len, self->out_room());
  if (n == 0) {
    BIO_set_retry_write(bio);
    *written = 0;
    return 0;
  }
  std::memcpy(self->out_->data.data() + kStagingSize + self->out_len_, data, n);
  self->out_len_ += n;
  *written = n;
  return 1;
}

long TlsStream::Callbacks::bio_ctrl(BIO* bio, int cmd, long /*num*/, void* /*ptr*/) {
  switch (cmd) {
    case BIO_CTRL_FLUSH:
      return 1;
    case BIO_CTRL_PENDING: {
      const TlsStream* self = stream_of(bio);
      return static_cast<long>(self->in_end_ - self->in_begin_);
    }
    default:
      return 0;
  }
}

int TlsStream::Callbacks::bio_create(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

BIO_METHOD* TlsStream::Callbacks::bio_method() {
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "vmlocal stream");
    BIO_meth_set_write_ex(m, bio_write);
    BIO_meth_set_read_ex(m, bio_read);
    BIO_meth_set_ctrl(m, bio_ctrl);
    BIO_meth_set_create(m, bio_create);
    return m;
  }();
  return method;
}

}  // namespace vmlocal::transport
