// A page load through a proxy by headless Chromium, with background networking, sync and
// component updates off, so its only traffic is the page. The page (an HttpServer with
// `count` images and scripts, each leaving a mark in the DOM) shows every subresource arrived.
#pragma once

#include <string>

#include "harness/endpoint.hpp"
#include "harness/http_server.hpp"
#include "harness/process.hpp"

namespace vmlocal::itest {

// Adds "/" and its 2 x `count` subresources to `http`.
void add_page_with_resources(HttpServer& http, int count);

// Loads `url` through `proxy_server` (Chromium's --proxy-server, e.g. "http://127.0.0.1:1080")
// and returns Chromium's run (out: the DOM after scripts ran, virtual time up to 10 s). Throws
// when chromium is not installed.
CommandResult load_with_chromium(const std::string& proxy_server, const std::string& url);

// load_with_chromium of http://localhost:PORT/ through the SOCKS5 proxy at `socks`.
CommandResult load_page_with_chromium(const Endpoint& socks, uint16_t http_port);

// Empty when the DOM `dom` and the requests `http` saw show all 2 x `count` resources loaded;
// else what is missing.
std::string page_problems(const HttpServer& http, const std::string& dom, int count);

}  // namespace vmlocal::itest
