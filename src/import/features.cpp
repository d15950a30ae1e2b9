#include "vmlocal/import/features.hpp"

#include <array>

namespace vmlocal::import {
namespace {

// The one place to switch a transport on once the profile loader and transport/ have it.
constexpr std::array kFeatures = {
    FeatureSupport{Feature::kTcp, "transport tcp", true},
    FeatureSupport{Feature::kWs, "transport ws (WebSocket)", true},
    FeatureSupport{Feature::kH2, "transport h2 (HTTP/2)", false},
    FeatureSupport{Feature::kGrpc, "transport grpc", false},
    FeatureSupport{Feature::kHttpUpgrade, "transport httpupgrade", false},
    FeatureSupport{Feature::kTcpHttpHeader, "tcp with an HTTP header (type http)", false},
    FeatureSupport{Feature::kWsEarlyData, "WebSocket early data (ed)", false},
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
