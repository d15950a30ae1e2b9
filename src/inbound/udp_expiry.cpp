#include "vmlocal/inbound/udp_expiry.hpp"

#include <algorithm>

namespace vmlocal::inbound {

void UdpExpiry::opened(const std::string& key, Millis now) {
  times_[key] = Times{now, now, false};
}

void UdpExpiry::connected(const std::string& key) {
  if (auto it = times_.find(key); it != times_.end()) it->second.connected = true;
}

void UdpExpiry::activity(const std::string& key, Millis now) {
  if (auto it = times_.find(key); it != times_.end()) {
    it->second.last_activity = std::max(it->second.last_activity, now);
  }
}

void UdpExpiry::forget(const std::string& key) {
  times_.erase(key);
}

std::pair<UdpExpiry::Millis, UdpExpiry::Why> UdpExpiry::deadline(const Times& t) const {
  const Millis idle_at = t.last_activity + idle_;
  if (!t.connected && t.opened + connect_ < idle_at) return {t.opened + connect_, Why::kConnect};
  return {idle_at, Why::kIdle};
}

std::vector<UdpExpiry::Due> UdpExpiry::due(Millis now) const {
  std::vector<Due> out;
  for (const auto& [key, t] : times_) {
    const auto [at, why] = deadline(t);
    if (at <= now) out.push_back(Due{key, why});
  }
  return out;
}

std::optional<UdpExpiry::Millis> UdpExpiry::next_deadline() const {
  std::optional<Millis> next;
  for (const auto& [key, t] : times_) {
    const Millis at = deadline(t).first;
    if (!next || at < *next) next = at;
  }
  return next;
}

}  // namespace vmlocal::inbound
