#include "vmlocal/import/features.hpp"

#include <array>

namespace vmlocal::import {
namespace {

// The one place to switch a transport on once the profile loader and transport/ have it.
constexpr std::array kFeatures = {
    FeatureSupport{Feature::kTcp, "transport tcp", true},
    FeatureSupport{Feature::kWs, "transport ws (WebSocket)", true},
    FeatureSupport{Feature::kH2, "transport h2 (HTTP/2)", true},
    FeatureSupport{Feature::kGrpc, "transport grpc", true},
    FeatureSupport{Feature::kHttpUpgrade, "transport httpupgrade", true},
    FeatureSupport{Feature::kTcpHttpHeader, "tcp with an HTTP header (type http)", true},
    FeatureSupport{Feature::kWsEarlyData, "WebSocket early data (ed)", true},
};

const FeatureSupport& entry(Feature feature) {
  for (const auto& support : kFeatures) {
    if (support.feature == feature) return support;
  }
  return kFeatures[0];  // unreachable: every enumerator has a row
}

}  // namespace

bool supported(Feature feature) {
  return entry(feature).built;
}

std::string_view feature_name(Feature feature) {
  return entry(feature).name;
}

}  // namespace vmlocal::import
