// A tunnel's outbound without the server: TCP from this machine to the target (a name is
// resolved here). Used by outbound::Router for targets [route] sends direct. It is a TcpStream
// that says so: route() is "direct" for the tunnel's summary line.
#pragma once

#include <uv.h>

#include "vmlocal/transport/tcp_stream.hpp"
#include "vmlocal/util/target_address.hpp"

namespace vmlocal::outbound {

class DirectStream final : public transport::Stream {
 public:
  DirectStream(uv_loop_t* loop, transport::StreamHandler& handler, const TargetAddress& target);

  void connect() override { tcp_.connect(); }
  void read_start() override { tcp_.read_start(); }
  void read_stop() override { tcp_.read_stop(); }
  WriteResult write(uv_buf_t* bufs, size_t count) override { return tcp_.write(bufs, count); }
  WriteResult shutdown() override { return tcp_.shutdown(); }
  void close(bool reset) override { tcp_.close(reset); }
  const transport::Failure& failure() const override { return tcp_.failure(); }
  std::string_view connect_stage() const override { return tcp_.connect_stage(); }
  size_t max_write_size() const override { return tcp_.max_write_size(); }
  std::string_view route() const override { return "direct"; }

 private:
  transport::TcpStream tcp_;  // reports straight to the handler
};

}  // namespace vmlocal::outbound
