#include "sandbox/http_types.hpp"

#include <boost/url/encode.hpp>
#include <boost/url/params_view.hpp>
#include <boost/url/parse_query.hpp>
#include <boost/url/pct_string_view.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include <algorithm>
#include <cctype>

namespace sandbox {

namespace {
bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}
}  // namespace

std::string_view HttpRequest::header(std::string_view name) const {
    for (const auto& [k, v] : headers)
        if (iequals(k, name)) return v;
    return {};
}

bool HttpRequest::has_header(std::string_view name) const {
    return std::any_of(headers.begin(), headers.end(), [&](const auto& h) { return iequals(h.first, name); });
}

void HttpResponse::set_header(std::string name, std::string value) {
    for (auto& [k, v] : headers) {
        if (iequals(k, name)) {
            v = std::move(value);
            return;
        }
    }
    headers.emplace_back(std::move(name), std::move(value));
}

std::string_view HttpResponse::header(std::string_view name) const {
    for (const auto& [k, v] : headers)
        if (iequals(k, name)) return v;
    return {};
}

std::optional<Params> parse_form(std::string_view encoded) {
    if (!boost::urls::parse_query(encoded)) return std::nullopt;  // validate before the throwing ctor
    boost::urls::encoding_opts opts;
    opts.space_as_plus = true;  // forms and queries: '+' is a space
    boost::urls::params_view view(boost::core::string_view(encoded.data(), encoded.size()), opts);
    Params out;
    for (auto p : view) {
        if (p.key.empty() && !p.has_value) continue;  // "a=1&&b=2"
        out.emplace(std::string(p.key), std::string(p.value));
    }
    return out;
}

std::optional<std::string> param(const Params& params, const std::string& key) {
    auto it = params.find(key);
    if (it == params.end()) return std::nullopt;
    return it->second;
}

std::optional<std::string> decode_path_segment(std::string_view segment) {
    auto pct = boost::urls::make_pct_string_view(segment);
    if (!pct) return std::nullopt;
    return pct->decode();
}

std::string url_encode(std::string_view raw) { return boost::urls::encode(raw, boost::urls::unreserved_chars); }

std::optional<std::vector<std::string>> split_path(std::string_view path) {
    std::vector<std::string> out;
    size_t pos = 0;
    while (pos < path.size()) {
        if (path[pos] == '/') {
            ++pos;
            continue;
        }
        size_t end = path.find('/', pos);
        if (end == std::string_view::npos) end = path.size();
        auto seg = decode_path_segment(path.substr(pos, end - pos));
        if (!seg) return std::nullopt;
        out.push_back(std::move(*seg));
        pos = end;
    }
    return out;
}

std::string html_escape(std::string_view raw) {
    std::string out;
    out.reserve(raw.size());
    for (char c : raw) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            case '\'':
                out += "&#39;";
                break;
            default:
                out += c;
        }
    }
    return out;
}

}  // namespace sandbox
