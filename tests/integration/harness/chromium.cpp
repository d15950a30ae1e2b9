#include "harness/chromium.hpp"

#include <algorithm>
#include <stdexcept>

#include "harness/temp_dir.hpp"

namespace vmlocal::itest {

using namespace std::chrono_literals;

namespace {

std::string page_with_resources(int count) {
  std::string html =
      "<!doctype html><html><head><title>many</title></head><body><div id=\"marks\"></div>\n";
  for (int i = 0; i < count; ++i) {
    html += "<img src=\"/img/" + std::to_string(i) +
            ".svg\" onload=\"this.setAttribute('data-ok', "
            "'1'); document.getElementById('marks').insertAdjacentText('beforeend', 'img" +
            std::to_string(i) + ";')\">\n";
    html += "<script src=\"/js/" + std::to_string(i) + ".js\"></script>\n";
  }
  html += "</body></html>\n";
  return html;
}

}  // namespace

void add_page_with_resources(HttpServer& http, int count) {
  http.add_page("/", page_with_resources(count));
  for (int i = 0; i < count; ++i) {
    http.add_page("/img/" + std::to_string(i) + ".svg",
                  "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"4\" height=\"4\"><rect "
                  "width=\"4\" height=\"4\" fill=\"#" +
                      std::string(i % 2 ? "c00" : "0c0") + "\"/></svg>",
                  "image/svg+xml");
    http.add_page("/js/" + std::to_string(i) + ".js",
                  "document.getElementById('marks').insertAdjacentText('beforeend', 'js" +
                      std::to_string(i) + ";');\n",
                  "text/javascript");
  }
}

CommandResult load_with_chromium(const std::string& proxy_server, const std::string& url) {
  auto chromium = find_program("chromium");
  if (!chromium) throw std::runtime_error("chromium is not installed (scripts/test installs it)");
  TempDir profile_dir("chromium-profile");
  return run_command(
      {chromium->string(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
       "--no-first-run", "--disable-background-networking", "--disable-component-update",
       "--disable-sync", "--disable-dev-shm-usage",
       "--user-data-dir=" + profile_dir.path().string(), "--proxy-server=" + proxy_server,
       // Chromium sends loopback names around a proxy unless told otherwise.
       "--proxy-bypass-list=<-loopback>", "--virtual-time-budget=10000", "--dump-dom", url},
      Deadline::after(90s), {{"HOME", profile_dir.path().string()}});
}

CommandResult load_page_with_chromium(const Endpoint& socks, uint16_t http_port) {
  return load_with_chromium("socks5://" + socks.to_string(),
                            "http://localhost:" + std::to_string(http_port) + "/");
}

std::string page_problems(const HttpServer& http, const std::string& dom, int count) {
  std::string problems;
  const auto paths = http.requested_paths();
  for (int i = 0; i < count; ++i) {
    for (const std::string kind : {"img", "js"}) {
      const std::string path =
          "/" + kind + "/" + std::to_string(i) + (kind == "img" ? ".svg" : ".js");
      // Asked for at the origin, through the tunnel ...
      if (std::count(paths.begin(), paths.end(), path) < 1) problems += " not requested: " + path;
      // ... and the DOM shows it loaded and ran.
      if (dom.find(kind + std::to_string(i) + ";") == std::string::npos) {
        problems += " not in the DOM: " + kind + std::to_string(i);
      }
    }
  }
  return problems;
}

}  // namespace vmlocal::itest
