// What this build can reach a server with, in one table: the importer refuses a server that
// needs a missing entry (or warns, for one it can do without). Enabling a transport once it is
// built is a one-line change here.
#pragma once

#include <string_view>

namespace vmlocal::import {

enum class Feature {
  kTcp,            // [server] transport = "tcp"
  kWs,             // transport = "ws"
  kH2,             // transport = "h2"
  kGrpc,           // transport = "grpc"
  kHttpUpgrade,    // transport = "httpupgrade"
  kTcpHttpHeader,  // [server.tcp] header = "http"
  kWsEarlyData,    // [server.ws] max_early_data
};

struct FeatureSupport {
  Feature feature;
  std::string_view name;  // as a user would know it, for messages
  bool built;
};

// True when this build has it.
bool supported(Feature feature);
std::string_view feature_name(Feature feature);

}  // namespace vmlocal::import
