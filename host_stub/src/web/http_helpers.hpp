// What the settings page's parts share: reading a form, building responses, comparing
// secrets. Internal to web/ (WebApp's translation units).
#pragma once

#include "web/settings_view.hpp"
#include "web/web_server.hpp"

#include <boost/json/value.hpp>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace host::web {

std::map<std::string, std::string> parse_form(std::string_view body);
WebResponse redirect(const std::string& location);
// An HTML page with the headers every page gets (no caching, no framing, a CSP).
WebResponse html(int status, std::string body, std::vector<std::pair<std::string, std::string>> extra = {});
WebResponse json_response(int status, const boost::json::value& v);
std::string path_of(const std::string& target);
inline std::string hidden(const std::string& csrf) { return view::hidden_csrf(csrf); }
std::string lower(std::string s);
// Constant-time, and never equal to an empty expected secret.
bool same_secret(const std::string& given, const std::string& expected);
// The Host header values that name this server: the public URL's authority (with and without
// its default port) and the listen address with the port (plus localhost on loopback).
std::set<std::string> hosts_naming_us(const std::string& public_url, const std::string& listen_address, uint16_t port);

}  // namespace host::web
