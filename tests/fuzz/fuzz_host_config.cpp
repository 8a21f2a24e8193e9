// fuzz_host_config: host::parse_host_config on arbitrary text.
//
// The deployment config decides which manifests (hence which shared libraries) the host
// loads and what each provider is configured with. Bad text must be refused with
// ConfigError; accepted text must give absolute paths and, per provider, a config document
// that is valid JSON with "${config_dir}" expanded exactly once, in values only.
#include "fuzz_support.hpp"

#include "core/host_config.hpp"

#include <boost/json.hpp>

#include <filesystem>
#include <string>

namespace {

namespace json = boost::json;

// A config directory whose name needs JSON escaping and itself contains the placeholder:
// expansion must neither corrupt the provider config nor expand its own output again.
const std::filesystem::path kConfigFile = "/srv/ep host/\"q\"\\${config_dir}/host.json";

// What expansion should produce: every "${config_dir}" in the original string replaced,
// left to right, by the directory; the replacement text is never scanned again.
std::string expanded(std::string_view s, std::string_view dir) {
    static constexpr std::string_view kToken = "${config_dir}";
    std::string out;
    for (std::size_t pos = 0;;) {
        const std::size_t hit = s.find(kToken, pos);
        out.append(s.substr(pos, hit == std::string_view::npos ? std::string_view::npos : hit - pos));
        if (hit == std::string_view::npos) return out;
        out.append(dir);
        pos = hit + kToken.size();
    }
}

json::value expanded_value(const json::value& v, std::string_view dir) {
    if (v.is_string()) return json::value(expanded(std::string_view(v.as_string()), dir));
    if (v.is_array()) {
        json::array out;
        for (const auto& e : v.as_array()) out.push_back(expanded_value(e, dir));
        return out;
    }
    if (v.is_object()) {
        json::object out;
        for (const auto& kv : v.as_object()) out[kv.key()] = expanded_value(kv.value(), dir);
        return out;
    }
    return v;
}

void check_accepted(std::string_view text, const host::HostConfig& c) {
    FUZZ_CHECK(c.file == kConfigFile, c.file.string());
    FUZZ_CHECK(c.store.sqlite_path.is_absolute(), c.store.sqlite_path.string());
    FUZZ_CHECK(c.log_level == EP_LOG_TRACE || c.log_level == EP_LOG_DEBUG || c.log_level == EP_LOG_INFO ||
                   c.log_level == EP_LOG_WARN || c.log_level == EP_LOG_ERROR,
               text);

    const json::value root = json::parse(text);
    const json::array& providers = root.as_object().at("providers").as_array();
    FUZZ_CHECK(c.providers.size() == providers.size(), text);
    const std::string dir = kConfigFile.parent_path().string();
    for (std::size_t i = 0; i < c.providers.size(); ++i) {
        const host::ProviderSetting& p = c.providers[i];
        // Named by id alone (located later, by the search path) or by an absolute path.
        FUZZ_CHECK(p.manifest.empty() ? !p.id.empty() : p.manifest.is_absolute(), p.manifest.string());
        // The provider parses this document itself: it must be JSON (an object), whatever
        // the numbers in the host config were.
        boost::system::error_code ec;
        const json::value config = json::parse(p.config_json, ec);
        FUZZ_CHECK(!ec && config.is_object(), p.config_json);
        // Compared as text, not as values: Boost.JSON 1.81 does not parse every double back
        // to the same bits, which is not what this checks.
        const json::value* original = providers[i].as_object().if_contains("config");
        const json::value want = original != nullptr ? expanded_value(*original, dir) : json::value(json::object());
        FUZZ_CHECK(p.config_json == json::serialize(want), p.config_json + "  expected  " + json::serialize(want));
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    const std::string_view text = fuzz::as_text(data, size);
    try {
        check_accepted(text, host::parse_host_config(text, kConfigFile));
    } catch (const host::ConfigError& e) {
        FUZZ_CHECK(std::string_view(e.what()).starts_with("config " + kConfigFile.string() + ": "), e.what());
    }
    return 0;
}
