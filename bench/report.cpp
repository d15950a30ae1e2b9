#include "report.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>

namespace vmlocal::bench {
namespace {

using nlohmann::json;

// The targets, from the design's performance model.
constexpr double kIdleRssTargetMib = 3.0;
constexpr double kPerTunnelTargetKib = 16.0;
constexpr double kFirstByteP50RatioTarget = 0.5;
constexpr double kFirstByteP99RatioTarget = 1.0;
constexpr std::size_t kManyTunnelsTarget = 10000;
// New vs old build: a change smaller than this is taken as no change. Rounds of the same
// build differ by a few per cent on a shared two-core machine (see the spread column).
constexpr double kSameWithin = 0.05;

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t mid = v.size() / 2;
  return v.size() % 2 == 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

std::string format(const char* fmt, double v) {
  char text[64];
  std::snprintf(text, sizeof text, fmt, v);
  return text;
}

// 9936 -> "9,936"
std::string thousands(std::uint64_t n) {
  const std::string digits = std::to_string(n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

// kPlainRelayAtMost: vmess-local's value at most the plain relay's (plain_relay.hpp), measured
// in the same run: the CPU target. ("≤ 0.33× v2ray" is gone: that is below what a plain relay
// costs on this loopback.)
enum class TargetKind { kNone, kRatioAtMost, kValueAtMost, kPlainRelayAtMost };

struct Metric {
  std::string key;    // JSON name
  std::string label;  // Markdown row
  std::string unit;
  const char* precision;  // printf format of one value
  std::function<double(const ClientRound&)> value;
  TargetKind target = TargetKind::kNone;
  double limit = 0;
  bool higher_is_better = false;  // tells a better new build from a worse one
  // The same quantity for the plain relay, where it has one (kPlainRelayAtMost).
  std::function<double(const PlainRelayRound&)> plain{};
};

const std::vector<Metric>& metrics() {
  static const std::vector<Metric> all = {
      {"download_cpu_s_per_gib", "client CPU, bulk download", "CPU-s/GiB", "%.3f",
       [](const ClientRound& r) { return r.download.cpu_seconds_per_gib(); },
       TargetKind::kPlainRelayAtMost, 0, false,
       [](const PlainRelayRound& r) { return r.download.cpu_seconds_per_gib(); }},
      {"download_user_cpu_s_per_gib", "… of which in user space", "CPU-s/GiB", "%.3f",
       [](const ClientRound& r) {
         return r.download.cpu_seconds_per_gib() * r.download.cpu_user_seconds /
                std::max(r.download.cpu_seconds, 1e-9);
       }},
      {"upload_cpu_s_per_gib", "client CPU, bulk upload", "CPU-s/GiB", "%.3f",
       [](const ClientRound& r) { return r.upload.cpu_seconds_per_gib(); },
       TargetKind::kPlainRelayAtMost, 0, false,
       [](const PlainRelayRound& r) { return r.upload.cpu_seconds_per_gib(); }},
      {"upload_user_cpu_s_per_gib", "… of which in user space", "CPU-s/GiB", "%.3f",
       [](const ClientRound& r) {
         return r.upload.cpu_seconds_per_gib() * r.upload.cpu_user_seconds /
                std::max(r.upload.cpu_seconds, 1e-9);
       }},
      {"download_mb_per_s", "throughput, bulk download", "MB/s", "%.0f",
       [](const ClientRound& r) { return r.download.megabytes_per_second(); }, TargetKind::kNone, 0,
       true},
      {"upload_mb_per_s", "throughput, bulk upload", "MB/s", "%.0f",
       [](const ClientRound& r) { return r.upload.megabytes_per_second(); }, TargetKind::kNone, 0,
       true},
      {"idle_rss_mib", "idle RSS", "MiB", "%.2f",
       [](const ClientRound& r) { return static_cast<double>(r.idle_rss_kib) / 1024; },
       TargetKind::kValueAtMost, kIdleRssTargetMib},
      {"idle_rss_anon_mib", "… of which anonymous (RssAnon, no shared libraries)", "MiB", "%.2f",
       [](const ClientRound& r) { return static_cast<double>(r.idle_rss_anon_kib) / 1024; }},
      {"rss_per_held_tunnel_kib", "RSS per held tunnel", "KiB", "%.2f",
       [](const ClientRound& r) { return r.rss_per_tunnel_kib; }, TargetKind::kValueAtMost,
       kPerTunnelTargetKib},
      {"udp_round_trip_p50_us", "UDP round trip (SOCKS5 UDP ASSOCIATE), p50", "µs", "%.0f",
       [](const ClientRound& r) { return r.udp.percentile_us(50); }},
      {"udp_lost_percent", "… datagrams lost", "%", "%.2f",
       [](const ClientRound& r) {
         return r.udp.sent == 0
                    ? 0.0
                    : 100.0 * static_cast<double>(r.udp.lost) / static_cast<double>(r.udp.sent);
       }},
      {"first_byte_p50_us", "first echoed byte, p50", "µs", "%.0f",
       [](const ClientRound& r) { return r.first_byte.percentile_us(50); },
       TargetKind::kRatioAtMost, kFirstByteP50RatioTarget},
      {"first_byte_p99_us", "first echoed byte, p99", "µs", "%.0f",
       [](const ClientRound& r) { return r.first_byte.percentile_us(99); },
       TargetKind::kRatioAtMost, kFirstByteP99RatioTarget},
      {"first_byte_floor_p50_us", "… with no client in the path (the driver speaks VMess), p50",
       "µs", "%.0f", [](const ClientRound& r) { return r.first_byte_floor.percentile_us(50); }},
      {"first_byte_added_p50_us", "… added by the client (its p50 minus that floor), p50", "µs",
       "%.0f",
       [](const ClientRound& r) {
         return r.first_byte.percentile_us(50) - r.first_byte_floor.percentile_us(50);
       }},
      {"cpu_us_per_short_tunnel", "client CPU per short tunnel (open, echo, close)", "µs", "%.0f",
       [](const ClientRound& r) {
         const auto n = r.first_byte.micros.size() + r.first_byte.failed();
         return n == 0 ? 0 : r.first_byte_cpu_seconds * 1e6 / static_cast<double>(n);
       }},
      {"many_tunnels_open_seconds", "time to open the many tunnels, 128 at a time", "s", "%.1f",
       [](const ClientRound& r) { return r.many.open_seconds; }},
      {"many_tunnels_rss_mib", "RSS with the many tunnels held", "MiB", "%.1f",
       [](const ClientRound& r) { return static_cast<double>(r.many.rss_kib) / 1024; }},
  };
  return all;
}

std::vector<const ClientRound*> select(const std::vector<ClientRound>& rounds,
                                       const std::string& security, ClientKind client) {
  std::vector<const ClientRound*> out;
  for (const auto& r : rounds) {
    if (r.security == security && r.client == client) out.push_back(&r);
  }
  return out;
}

double median_of(const std::vector<const ClientRound*>& rounds, const Metric& m) {
  std::vector<double> values;
  for (const auto* r : rounds)
    values.push_back(m.value(*r));
  return median(values);
}

struct Evaluated {
  double ours = 0;
  double theirs = 0;
  double ratio = 0;
  std::optional<bool> met;
  std::string target_text;
};

std::vector<const PlainRelayRound*> select_plain(const RunInfo& info, const std::string& security) {
  std::vector<const PlainRelayRound*> out;
  for (const auto& r : info.plain) {
    if (r.security == security) out.push_back(&r);
  }
  return out;
}

double codec_median(const std::vector<const PlainRelayRound*>& plain) {
  std::vector<double> values;
  for (const auto* r : plain)
    values.push_back(r->codec_cpu_s_per_gib);
  return median(values);
}

double plain_median(const std::vector<const PlainRelayRound*>& plain, const Metric& m) {
  std::vector<double> values;
  for (const auto* r : plain)
    values.push_back(m.plain(*r));
  return median(values);
}

Evaluated evaluate(const Metric& m, const std::vector<const ClientRound*>& ours,
                   const std::vector<const ClientRound*>& theirs,
                   const std::vector<const PlainRelayRound*>& plain) {
  Evaluated e;
  e.ours = median_of(ours, m);
  e.theirs = median_of(theirs, m);
  e.ratio = e.theirs != 0 ? e.ours / e.theirs : 0;
  switch (m.target) {
    case TargetKind::kRatioAtMost:
      e.met = e.theirs != 0 && e.ratio <= m.limit;
      e.target_text = "≤ " + format("%.2g", m.limit) + "× v2ray";
      break;
    case TargetKind::kValueAtMost:
      e.met = e.ours <= m.limit;
      e.target_text = "≤ " + format("%.0f", m.limit) + " " + m.unit;
      break;
    case TargetKind::kPlainRelayAtMost:
      if (!plain.empty()) {
        const double limit = plain_median(plain, m);
        e.met = e.ours <= limit;
        e.target_text = "≤ the plain relay (" + format(m.precision, limit) + ")";
      }
      break;
    case TargetKind::kNone:
      break;
  }
  return e;
}

// One metric, new build vs old.
struct Compared {
  double old_median = 0;
  double new_median = 0;
  // Only where a ratio means something: not for a zero or negative old value (the latency
  // added by the client is a difference and can be).
  std::optional<double> ratio;
  bool within = false;
  bool better = false;
  std::vector<double> old_values;
  std::vector<double> new_values;
};

std::vector<double> values_of(const std::vector<const ClientRound*>& rounds, const Metric& m) {
  std::vector<double> values;
  for (const auto* r : rounds)
    values.push_back(m.value(*r));
  return values;
}

Compared compare(const Metric& m, const std::vector<const ClientRound*>& old_rounds,
                 const std::vector<const ClientRound*>& new_rounds) {
  Compared c;
  c.old_values = values_of(old_rounds, m);
  c.new_values = values_of(new_rounds, m);
  c.old_median = median(c.old_values);
  c.new_median = median(c.new_values);
  if (c.old_median > 0) {
    c.ratio = c.new_median / c.old_median;
    c.within = std::abs(*c.ratio - 1) <= kSameWithin;
    c.better = m.higher_is_better ? *c.ratio > 1 : *c.ratio < 1;
  }
  return c;
}

// (max - min) / median over one build's rounds: how far rounds of the same build disagree,
// to weigh a new / old ratio against.
std::optional<double> spread(const std::vector<double>& values) {
  const double mid = median(values);
  if (values.size() < 2 || mid <= 0) return std::nullopt;
  const auto [lo, hi] = std::minmax_element(values.begin(), values.end());
  return (*hi - *lo) / mid;
}

std::string spread_text(const std::vector<double>& values) {
  const auto s = spread(values);
  return s ? format("%.1f", *s * 100) + " %" : "–";
}

std::string within_text(const Compared& c) {
  if (!c.ratio) return "n/a";
  if (c.within) return "yes";
  // Rounds of one build that disagree by more than the builds do: the verdict is noise.
  const double noise = std::max(spread(c.old_values).value_or(0), spread(c.new_values).value_or(0));
  const char* direction = c.better ? "better" : "worse";
  if (std::abs(*c.ratio - 1) <= noise) return std::string("no (") + direction + ", within spread)";
  return c.better ? "no (better)" : "**no (worse)**";
}

// The many-tunnel target: every round held every requested tunnel (each echoed twice).
struct ManyOutcome {
  std::size_t requested = 0;
  std::size_t rounds_all_held = 0;
  std::size_t rounds = 0;
  std::size_t min_held = 0;
  std::size_t min_verified = 0;
};

ManyOutcome many_outcome(const std::vector<const ClientRound*>& rounds) {
  ManyOutcome o;
  o.rounds = rounds.size();
  o.min_held = o.min_verified = SIZE_MAX;
  for (const auto* r : rounds) {
    o.requested = r->many.requested;
    o.rounds_all_held += r->many.all_held() ? 1 : 0;
    o.min_held = std::min(o.min_held, r->many.held);
    o.min_verified = std::min(o.min_verified, r->many.verified);
  }
  if (rounds.empty()) o.min_held = o.min_verified = 0;
  return o;
}

std::string many_cell(const ManyOutcome& o) {
  return "all " + thousands(o.requested) + " in " + std::to_string(o.rounds_all_held) + "/" +
         std::to_string(o.rounds) + " rounds" +
         (o.rounds_all_held == o.rounds ? ""
                                        : " (fewest held " + thousands(o.min_held) +
                                              ", echoed again " + thousands(o.min_verified) + ")");
}

// Failed attempts summed over rounds: failed / total.
struct FailureTotals {
  std::size_t first_byte_failed = 0, first_byte_total = 0;
  std::size_t tunnel_failed = 0, tunnel_attempts = 0;
  std::size_t bulk_retries = 0;
  std::map<std::string, std::size_t> kinds;
};

FailureTotals failure_totals(const std::vector<const ClientRound*>& rounds) {
  FailureTotals t;
  for (const auto* r : rounds) {
    t.first_byte_failed += r->first_byte.failed();
    t.first_byte_total += r->first_byte.micros.size() + r->first_byte.failed();
    for (const auto& [kind, n] : r->first_byte.failures)
      t.kinds["first byte: " + kind] += n;
    for (const HoldPhase* p : {&r->held, &r->many}) {
      t.tunnel_failed += p->failed();
      t.tunnel_attempts += p->attempts;
      for (const auto& [kind, n] : p->failures)
        t.kinds["tunnels: " + kind] += n;
    }
    t.bulk_retries += static_cast<std::size_t>(r->download.attempts - 1 + r->upload.attempts - 1);
  }
  return t;
}

std::string kinds_text(const std::map<std::string, std::size_t>& kinds) {
  std::string text;
  for (const auto& [kind, n] : kinds)
    text += (text.empty() ? "" : "; ") + std::to_string(n) + "× " + kind;
  return text;
}

json hold_json(const HoldPhase& p) {
  return {{"requested", p.requested},
          {"held", p.held},
          {"verified", p.verified},
          {"attempts", p.attempts},
          {"failures", p.failures},
          {"open_seconds", p.open_seconds},
          {"open_cpu_seconds", p.open_cpu_seconds},
          {"rss_kib", p.rss_kib},
          {"client_fds", p.client_fds}};
}

json bulk_json(const BulkResult& b) {
  return {{"bytes", b.bytes},
          {"seconds", b.seconds},
          {"cpu_seconds", b.cpu_seconds},
          {"cpu_user_seconds", b.cpu_user_seconds},
          {"cpu_s_per_gib", b.cpu_seconds_per_gib()},
          {"mb_per_s", b.megabytes_per_second()},
          {"attempts", b.attempts},
          {"retry_reasons", b.retry_reasons}};
}

json round_json(const ClientRound& r) {
  return {{"client", client_name(r.client)},
          {"security", r.security},
          {"round", r.round},
          {"nofile_soft", r.nofile_soft},
          {"idle_rss_kib", r.idle_rss_kib},
          {"idle_rss_anon_kib", r.idle_rss_anon_kib},
          {"idle_fds", r.idle_fds},
          {"held", hold_json(r.held)},
          {"rss_per_tunnel_kib", r.rss_per_tunnel_kib},
          {"udp_round_trip",
           {{"p50_us", r.udp.percentile_us(50)},
            {"p99_us", r.udp.percentile_us(99)},
            {"sent", r.udp.sent},
            {"lost", r.udp.lost},
            {"error", r.udp.error}}},
          {"first_byte",
           {{"p50_us", r.first_byte.percentile_us(50)},
            {"p99_us", r.first_byte.percentile_us(99)},
            {"samples", r.first_byte.micros.size()},
            {"failures", r.first_byte.failures},
            {"client_cpu_seconds", r.first_byte_cpu_seconds},
            {"micros", r.first_byte.micros}}},
          {"download", bulk_json(r.download)},
          {"upload", bulk_json(r.upload)},
          {"many", hold_json(r.many)},
          {"notes", r.notes}};
}

std::string status_text(const std::optional<bool>& met) {
  if (!met) return "";
  return *met ? "met" : "**not met**";
}

bool ran(const RunInfo& info, ClientKind kind) {
  return std::find(info.clients.begin(), info.clients.end(), kind) != info.clients.end();
}

// The rows after the metrics, the same in both tables: many tunnels, then failures.
std::string outcome_rows(const std::vector<const ClientRound*>& a,
                         const std::vector<const ClientRound*>& b, const std::string& many_target,
                         const std::string& many_status) {
  const ManyOutcome ma = many_outcome(a);
  const ManyOutcome mb = many_outcome(b);
  std::string md = "| " + thousands(ma.requested) + " tunnels held at once, each echoing | " +
                   many_cell(ma) + " | " + many_cell(mb) + " | | " + many_target + " | " +
                   many_status + " |\n";
  const FailureTotals fa = failure_totals(a);
  const FailureTotals fb = failure_totals(b);
  md += "| failed first-byte samples (all rounds) | " + std::to_string(fa.first_byte_failed) +
        " / " + thousands(fa.first_byte_total) + " | " + std::to_string(fb.first_byte_failed) +
        " / " + thousands(fb.first_byte_total) + " | | | |\n";
  md += "| failed tunnel attempts, replaced (all rounds) | " + std::to_string(fa.tunnel_failed) +
        " / " + thousands(fa.tunnel_attempts) + " | " + std::to_string(fb.tunnel_failed) + " / " +
        thousands(fb.tunnel_attempts) + " | | | |\n";
  md += "| bulk transfers retried (all rounds) | " + std::to_string(fa.bulk_retries) + " | " +
        std::to_string(fb.bulk_retries) + " | | | |\n";
  return md;
}

std::string failure_kinds(const std::vector<std::pair<const char*, FailureTotals>>& clients) {
  std::string md;
  for (const auto& [name, totals] : clients) {
    if (!totals.kinds.empty())
      md += "\nFailures, " + std::string(name) + ": " + kinds_text(totals.kinds) + ".\n";
  }
  return md;
}

std::string ab_table(const std::vector<ClientRound>& rounds, const std::string& security) {
  auto old_rounds = select(rounds, security, ClientKind::kBaseline);
  auto new_rounds = select(rounds, security, ClientKind::kVmessLocal);
  std::string md = "\n### " + security + ": new build / baseline\n\n";
  md += "| metric | baseline (old) | new | new / old | within " +
        format("%.0f", kSameWithin * 100) + " % | spread over rounds, old / new |\n";
  md += "|---|--:|--:|--:|---|--:|\n";
  for (const auto& m : metrics()) {
    const Compared c = compare(m, old_rounds, new_rounds);
    md += "| " + m.label + " (" + m.unit + ") | " + format(m.precision, c.old_median) + " | " +
          format(m.precision, c.new_median) + " | " +
          (c.ratio ? format("%.3f", *c.ratio) + "×" : "") + " | " + within_text(c) + " | " +
          spread_text(c.old_values) + " / " + spread_text(c.new_values) + " |\n";
  }
  const ManyOutcome mo = many_outcome(old_rounds);
  const ManyOutcome mn = many_outcome(new_rounds);
  std::string many_status = "yes";
  if (mn.rounds_all_held < mn.rounds) {
    many_status = "**no** (new)";
  } else if (mo.rounds_all_held < mo.rounds) {
    many_status = "no (baseline)";
  }
  md += outcome_rows(old_rounds, new_rounds, "all held in every round", many_status);
  md += failure_kinds(
      {{"baseline", failure_totals(old_rounds)}, {"new", failure_totals(new_rounds)}});
  return md;
}

std::string v2ray_table(const RunInfo& info, const std::vector<ClientRound>& rounds,
                        const std::string& security) {
  auto ours = select(rounds, security, ClientKind::kVmessLocal);
  auto theirs = select(rounds, security, ClientKind::kV2ray);
  auto plain = select_plain(info, security);
  std::string md = "\n### " + security +
                   (ran(info, ClientKind::kBaseline) ? ": new build / v2ray" : "") + "\n\n";
  md += "| metric | vmess-local | v2ray | vmess-local / v2ray | target | |\n";
  md += "|---|--:|--:|--:|---|---|\n";
  for (const auto& m : metrics()) {
    Evaluated e = evaluate(m, ours, theirs, plain);
    md += "| " + m.label + " (" + m.unit + ") | " + format(m.precision, e.ours) + " | " +
          format(m.precision, e.theirs) + " | " +
          // A ratio to a zero (no datagram lost by either) means nothing.
          (e.theirs != 0 ? format("%.2f", e.ratio) + "×" : std::string("n/a")) + " | " +
          e.target_text + " | " + status_text(e.met) + " |\n";
    if (m.plain && !plain.empty()) {
      const double p = plain_median(plain, m);
      md += "| … the plain relay (read/write, 64 KiB, no crypto; same run) (" + m.unit + ") | " +
            format(m.precision, p) +
            " | | vmess-local / plain relay: " + format("%.2f", p != 0 ? e.ours / p : 0) +
            "× | | |\n";
      // What no VMess client can go below: the relay's work plus the codec's (codec_floor.hpp).
      const double floor = p + codec_median(plain);
      md += "| … the plain relay + the VMess body codec alone (" +
            format(m.precision, codec_median(plain)) + "): the floor for any VMess client (" +
            m.unit + ") | " + format(m.precision, floor) +
            " | | vmess-local / floor: " + format("%.2f", floor != 0 ? e.ours / floor : 0) +
            "×, v2ray / floor: " + format("%.2f", floor != 0 ? e.theirs / floor : 0) + "× | | |\n";
    }
  }
  const ManyOutcome mo = many_outcome(ours);
  std::string many_status;
  if (mo.rounds_all_held != mo.rounds) {
    many_status = "**not met**";
  } else if (mo.requested >= kManyTunnelsTarget) {
    many_status = "met";
  } else if (info.settings.many_tunnels < info.many_requested) {
    many_status = "met up to the descriptor cap";
  } else {
    many_status = "not measured (--tunnels " + std::to_string(info.many_requested) + ")";
  }
  md += outcome_rows(ours, theirs, thousands(kManyTunnelsTarget) + " held", many_status);
  md += failure_kinds({{"vmess-local", failure_totals(ours)}, {"v2ray", failure_totals(theirs)}});
  return md;
}

json v2ray_summary(const RunInfo& info, const std::vector<ClientRound>& rounds,
                   const std::string& security) {
  auto ours = select(rounds, security, ClientKind::kVmessLocal);
  auto theirs = select(rounds, security, ClientKind::kV2ray);
  auto plain = select_plain(info, security);
  json s = json::object();
  for (const auto& m : metrics()) {
    Evaluated e = evaluate(m, ours, theirs, plain);
    json row = {{"unit", m.unit}, {"vmess_local", e.ours}, {"v2ray", e.theirs}, {"ratio", e.ratio}};
    if (m.plain && !plain.empty()) {
      row["plain_relay"] = plain_median(plain, m);
      row["codec"] = codec_median(plain);
      row["floor"] = plain_median(plain, m) + codec_median(plain);
    }
    if (e.met) {
      row["target"] = e.target_text;
      row["met"] = *e.met;
    }
    s[m.key] = row;
  }
  const ManyOutcome mo = many_outcome(ours);
  const ManyOutcome mt = many_outcome(theirs);
  s["many_tunnels_held"] = {
      {"requested", mo.requested},
      {"vmess_local_rounds_all_held", mo.rounds_all_held},
      {"v2ray_rounds_all_held", mt.rounds_all_held},
      {"rounds", mo.rounds},
      {"target", kManyTunnelsTarget},
      {"met", mo.requested >= kManyTunnelsTarget && mo.rounds_all_held == mo.rounds},
      {"capped_by_descriptor_limit", mo.requested < kManyTunnelsTarget}};
  return s;
}

json ab_summary(const std::vector<ClientRound>& rounds, const std::string& security) {
  auto old_rounds = select(rounds, security, ClientKind::kBaseline);
  auto new_rounds = select(rounds, security, ClientKind::kVmessLocal);
  json s = json::object();
  for (const auto& m : metrics()) {
    const Compared c = compare(m, old_rounds, new_rounds);
    s[m.key] = {{"unit", m.unit},
                {"baseline", c.old_median},
                {"new", c.new_median},
                {"ratio", c.ratio ? json(*c.ratio) : json(nullptr)},
                {"within", kSameWithin},
                {"within_met", c.within},
                {"baseline_spread", spread(c.old_values) ? json(*spread(c.old_values)) : json()},
                {"new_spread", spread(c.new_values) ? json(*spread(c.new_values)) : json()},
                {"better", c.better},
                {"baseline_rounds", c.old_values},
                {"new_rounds", c.new_values}};
  }
  const ManyOutcome mo = many_outcome(old_rounds);
  const ManyOutcome mn = many_outcome(new_rounds);
  s["many_tunnels_held"] = {{"requested", mo.requested},
                            {"baseline_rounds_all_held", mo.rounds_all_held},
                            {"new_rounds_all_held", mn.rounds_all_held},
                            {"rounds", mo.rounds}};
  return s;
}

}  // namespace

json to_json(const RunInfo& info, const std::vector<ClientRound>& rounds) {
  json out;
  json clients = json::array();
  for (ClientKind kind : info.clients)
    clients.push_back(client_name(kind));
  out["run"] = {{"started_utc", info.started_utc},
                {"cpu_model", info.cpu_model},
                {"cores", info.cores},
                {"kernel", info.kernel},
                {"vmess_local_version", info.vmess_local_version},
                {"v2ray_version", info.v2ray_version},
                {"revision", info.revision},
                {"clients", clients},
                {"quick", info.quick},
                {"rounds", info.rounds},
                {"securities", info.securities},
                {"bulk_bytes", info.settings.bulk_bytes},
                {"first_byte_samples", info.settings.first_byte_samples},
                {"held_tunnels", info.settings.held_tunnels},
                {"many_tunnels", info.settings.many_tunnels},
                {"many_tunnels_requested", info.many_requested},
                {"nofile_hard", info.nofile_hard},
                {"wall_seconds", info.wall_seconds},
                {"load_start", info.load_start},
                {"load_end", info.load_end}};
  if (ran(info, ClientKind::kBaseline)) {
    out["run"]["baseline_version"] = info.baseline_version;
    out["run"]["baseline_path"] = info.baseline_path;
    out["run"]["vmess_local_path"] = info.vmess_local_path;
    json ab = json::object();
    for (const auto& security : info.securities)
      ab[security] = ab_summary(rounds, security);
    out["baseline_summary"] = ab;
  }
  if (ran(info, ClientKind::kV2ray)) {
    json summary = json::object();
    for (const auto& security : info.securities)
      summary[security] = v2ray_summary(info, rounds, security);
    out["summary"] = summary;
  }
  out["rounds"] = json::array();
  for (const auto& r : rounds)
    out["rounds"].push_back(round_json(r));
  out["plain_relay_rounds"] = json::array();
  for (const auto& r : info.plain) {
    out["plain_relay_rounds"].push_back({{"security", r.security},
                                         {"round", r.round},
                                         {"download", bulk_json(r.download)},
                                         {"upload", bulk_json(r.upload)},
                                         {"codec_cpu_s_per_gib", r.codec_cpu_s_per_gib}});
  }
  return out;
}

std::string to_markdown(const RunInfo& info, const std::vector<ClientRound>& rounds) {
  const RoundSettings& s = info.settings;
  const bool ab = ran(info, ClientKind::kBaseline);
  const bool with_v2ray = ran(info, ClientKind::kV2ray);
  std::string order;
  for (ClientKind kind : info.clients)
    order += (order.empty() ? "" : ", ") + std::string(client_name(kind));
  std::string md = ab ? "## vmess-local, new build vs baseline — A/B benchmark\n\n"
                      : "## vmess-local vs v2ray 4.34 as a client — side-by-side benchmark\n\n";
  md += "- " + info.started_utc + ", " + info.cpu_model + ", " + std::to_string(info.cores) +
        " cores, Linux " + info.kernel + "\n";
  if (ab) {
    md += "- new: " + info.vmess_local_version +
          (info.revision.empty() ? "" : " (" + info.revision + ")") + ", `" +
          info.vmess_local_path + "`; baseline: " + info.baseline_version + ", `" +
          info.baseline_path + "`; " + info.v2ray_version + " as the server" +
          (with_v2ray ? " and as the reference client" : "") + "\n";
    md += "- " + std::string(info.quick ? "**quick run**: " : "") + std::to_string(info.rounds) +
          " round(s) per build and cipher, alternating " + order +
          "; medians over rounds; a fresh client process and a fresh v2ray server per client "
          "round\n";
  } else {
    md += "- " + info.vmess_local_version +
          (info.revision.empty() ? "" : " (" + info.revision + ")") + ", release build; " +
          info.v2ray_version + " as the server and as the reference client\n";
    md += "- " + std::string(info.quick ? "**quick run**: " : "") + std::to_string(info.rounds) +
          " round(s) per cipher, clients alternating vmess-local, v2ray; medians over rounds; "
          "a fresh client process per round and a fresh v2ray server per round, shared by both "
          "clients\n";
  }
  md += "- bulk " + thousands(s.bulk_bytes >> 20) + " MiB each way; " +
        thousands(s.first_byte_samples) + " first-byte samples per round; " +
        thousands(s.held_tunnels) + " held tunnels for RSS per tunnel; " +
        thousands(s.many_tunnels) + " tunnels at once";
  if (s.many_tunnels < info.many_requested) {
    md += " (" + thousands(info.many_requested) +
          " requested: capped because RLIMIT_NOFILE's hard limit is " +
          thousands(info.nofile_hard) +
          " here and cannot be raised, and a client needs two descriptors per tunnel)";
  }
  // The clients' own limits show that they inherited the driver's.
  std::string limits;
  for (ClientKind kind : info.clients) {
    std::uint64_t limit = UINT64_MAX;
    for (const auto& r : rounds) {
      if (r.client == kind) limit = std::min(limit, r.nofile_soft);
    }
    limits += (limits.empty() ? "" : " and ") + thousands(limit) + " (" + client_name(kind) + ")";
  }
  md += "\n- RLIMIT_NOFILE " + thousands(info.nofile_hard) +
        " in the driver; the clients ran with " + limits + "\n";
  md += "- wall time " + format("%.0f", info.wall_seconds) + " s; load average " + info.load_start +
        " at the start, " + info.load_end + " at the end\n";
  if (ab) {
    // /proc counts CPU time in clock ticks: with less than 1 GiB per transfer one tick can be
    // more than the 5 % the verdict looks for.
    const double tick = 1.0 / static_cast<double>(sysconf(_SC_CLK_TCK));
    md += "- CPU time is counted in ticks of " + format("%.0f", tick * 1000) +
          " ms: at this bulk size one tick is " +
          format("%.3f", tick * static_cast<double>(std::uint64_t{1} << 30) /
                             static_cast<double>(s.bulk_bytes)) +
          " CPU-s/GiB\n";
  }

  for (const auto& security : info.securities) {
    if (ab) md += ab_table(rounds, security);
    if (with_v2ray) md += v2ray_table(info, rounds, security);
  }

  std::string notes;
  for (const auto& r : rounds) {
    for (const auto& n : r.notes)
      notes += "- " + r.security + " round " + std::to_string(r.round) + ": " + n + "\n";
  }
  if (!notes.empty()) md += "\n### Notes\n\n" + notes;
  md +=
      "\nCPU is the client process's utime+stime only (/proc/PID/stat) while the transfer "
      "ran; the v2ray server, the origins and the driver share the machine but are not "
      "counted. Failed attempts are tunnels the path never answered (a v2ray 4.34 server "
      "takes about 1–5 in 1,000 fresh AEAD connections for replays once thousands arrive "
      "within minutes, and then never answers them, or closes them, depending on how much the "
      "server instance drains first: \"no first echo in time\" or \"closed\" / "
      "\"reset before the first echo\"); they are replaced and counted, not hidden.";
  md += ab ? " Each client round had a server of its own, so no client met another's AuthIDs.\n"
           : " v2ray meets more of them: it runs second on each round's server, whose filters "
             "then already hold vmess-local's AuthIDs.\n";
  if (ab) {
    md += "\nnew / old is the ratio of the medians; \"within " + format("%.0f", kSameWithin * 100) +
          " %\" means |new / old − 1| ≤ " + format("%.2f", kSameWithin) +
          ". The spread is (max − min) / median over one build's rounds; a difference "
          "smaller than the larger spread is marked \"within spread\": noise, not a verdict.\n";
  }
  return md;
}

}  // namespace vmlocal::bench
