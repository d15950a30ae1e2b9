// An upstream byte stream (tcp, with tls and ws layered on it: tcp -> tls -> ws), so the pump
// does not care which one it talks to. Callbacks go to one StreamHandler (the session, or the
// layer above). Reads are libuv-style: the handler lends the buffer, so a plain TCP stream reads
// straight into the pump's block.
//
// Every implementation keeps these rules, which the layers rely on from each other:
//  * No data callback (on_stream_read, on_stream_eof, on_stream_write_done) runs from inside a
//    call the handler made: data a layer already holds when read_start() is called is delivered
//    on a later loop iteration. (connect() may report a failure at once, and TcpStream::close()
//    reports closed at once when nothing is outstanding; the TLS and WebSocket layers always
//    report closed from a later callback.)
//  * on_stream_connected() means the whole stack is ready (TCP, TLS handshake, WebSocket
//    upgrade), so the session may answer the app then. A stack whose opening carries the first
//    payload (WebSocket early data) first reports on_stream_writable(): see there.
//  * Bounded memory: a stream with a pending write below returns kPending and takes no more.
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "vmlocal/util/bytes.hpp"
#include "vmlocal/util/error.hpp"

namespace vmlocal::transport {

// The project's one error type (util/error.hpp) under the names the stream code grew up with.
using FailureKind = ErrorKind;
using Failure = Error;

// Maps a libuv error from connect/read/write to a failure kind.
FailureKind failure_kind_for_uv_error(int uv_error);

// How long a graceful close() waits for queued bytes to go before it gives up, per layer.
inline constexpr uint64_t kCloseDrainMs = 1000;

class StreamHandler {
 public:
  virtual void on_stream_connected() = 0;
  // Connect or I/O failed; the handler closes the stream.
  virtual void on_stream_failed(const Failure& failure) = 0;
  // Where the next read goes. Never empty while reading is started.
  virtual MutableByteView on_stream_buffer() = 0;
  virtual void on_stream_read(size_t n) = 0;
  virtual void on_stream_eof() = 0;
  // A write that returned kPending has completed.
  virtual void on_stream_write_done() = 0;
  // Only from stacks whose opening carries the first payload (WebSocket early data): the stack
  // below is up (TCP, TLS) and write() is taken from now on, before on_stream_connected(); the
  // first write rides in the opening and completes once the opening has. The opening waits for
  // that first write, whether or not the handler acts on this call (the default does nothing),
  // so the handler must write or close soon. A handler that answers its app here can no longer
  // report a failure or timeout of the opening as a refusal. Reads start only after
  // on_stream_connected().
  virtual void on_stream_writable() {}
  // Every handle is closed; the stream may be destroyed now (from this callback is fine).
  virtual void on_stream_closed() = 0;
  // Streams that decode in place (the VMess outbound) hand their plaintext over as views into
  // their own buffer instead of copying it into on_stream_buffer(). Return true when every view
  // has been consumed before returning; false keeps them valid until the handler calls
  // Stream::release_views(), and no read, view or EOF callback comes until then. Streams that
  // read into the handler's buffer never call this. The handler may rewrite the entries (to skip
  // what it wrote).
  virtual bool on_stream_views(uv_buf_t* views, size_t count);

 protected:
  ~StreamHandler() = default;
};

class Stream {
 public:
  enum class WriteResult : uint8_t { kDone, kPending, kFailed };

  virtual ~Stream() = default;

  virtual void connect() = 0;
  virtual void read_start() = 0;
  virtual void read_stop() = 0;
  // Writes the buffers in order; at most one write may be pending. The stream may rewrite the
  // uv_buf_t entries (to skip what was sent) and, for framing layers, the bytes they point at;
  // the memory must stay valid until kDone is returned or on_stream_write_done() is called.
  // kFailed: failure() says why; the handler closes the stream.
  virtual WriteResult write(uv_buf_t* bufs, size_t count) = 0;
  // Ends our sending side once every queued write has gone. A stream that must write to end its
  // side (the VMess END chunk) may return kPending: on_stream_write_done() follows when it went.
  virtual WriteResult shutdown() = 0;
  // Closes everything; on_stream_closed() follows asynchronously, and no other callback comes
  // after close(). Graceful (`reset` false): the bytes the stream already took or queued — the
  // pending write, a layer's closing message (WebSocket Close, TLS close_notify), a reply the
  // peer is owed — are written first, and the socket closes once they have gone, or after
  // kCloseDrainMs at the latest (then with a reset). `reset`: abort at once (RST), dropping
  // whatever was not sent. close(true) during a graceful close cuts it short. Idempotent (the
  // tunnel closes a refused request's stream, and again when it closes itself).
  virtual void close(bool reset) = 0;
  virtual const Failure& failure() const = 0;
  // What the stream is waiting for while connecting, for a timeout message: "DNS: resolve",
  // "TCP: connect", "TLS: handshake", "WebSocket: upgrade". Meaningless once connected.
  virtual std::string_view connect_stage() const { return "connect"; }
  // Which way the tunnel's bytes go when it is not the usual (through the server): "direct".
  // Shown in the tunnel's summary line.
  virtual std::string_view route() const { return {}; }
  // The HTTP answer the stack got while connecting (the WebSocket upgrade response), or empty:
  // its status line and Date header, for the doctor and the clock offset estimate. Kept after a
  // failed upgrade too.
  virtual std::string_view http_status_line() const { return {}; }
  virtual std::string_view http_date() const { return {}; }
  // The most bytes one write() takes in all (a VMess stream seals a write into a bounded number
  // of chunks); callers size their reads by it.
  virtual size_t max_write_size() const { return SIZE_MAX; }
  // See StreamHandler::on_stream_views: the handler is done with the views it kept. May deliver
  // the next views before it returns.
  virtual void release_views() {}
};

}  // namespace vmlocal::transport
