#include "email_provider/manifest.hpp"

#include <ep_json/reader.hpp>

#include <algorithm>
#include <charconv>

namespace ep::loader {
namespace {

namespace reader = ep::json_reader;

constexpr std::size_t kMaxManifestBytes = 64 * 1024;

[[noreturn]] void fail(const std::filesystem::path& file, std::string_view field, std::string_view what) {
    std::string msg = "manifest " + file.string() + ": ";
    if (!field.empty()) msg += "field '" + std::string(field) + "' ";
    msg += what;
    throw LoadError(msg);
}

// A string the manifest must give, not empty.
std::string required_text(const reader::Object& o, std::string_view key) {
    std::string s = o.required_string(key);
    if (s.empty()) o.fail(key, "must not be empty");
    return s;
}

// Parses "N.M" or "N.M.P" with decimal components.
bool parse_version(std::string_view text, int parts_wanted_min, int parts_wanted_max, int out[3]) {
    int count = 0;
    out[0] = out[1] = out[2] = 0;
    while (true) {
        if (count == 3) return false;
        auto dot = text.find('.');
        std::string_view part = text.substr(0, dot);
        // Digits only: from_chars would also take a leading '-' ("-1.0" read as ABI 65535.0).
        if (part.empty() || part.size() > 5 || part.find_first_not_of("0123456789") != std::string_view::npos)
            return false;
        auto [ptr, ec] = std::from_chars(part.data(), part.data() + part.size(), out[count]);
        if (ec != std::errc() || ptr != part.data() + part.size()) return false;
        ++count;
        if (dot == std::string_view::npos) break;
        text.remove_prefix(dot + 1);
    }
    return count >= parts_wanted_min && count <= parts_wanted_max;
}

bool is_valid_id(std::string_view id) {
    if (id.empty() || id.size() > 64) return false;
    for (char c : id)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
    return true;
}

bool is_known_capability(std::string_view name) {
    for (const auto& c : kCapabilityNames)
        if (c.name == name) return true;
    return false;
}

std::string known_capabilities() {
    std::string list;
    for (const auto& c : kCapabilityNames) list += (list.empty() ? "" : ", ") + std::string(c.name);
    return list;
}

// The file's version: a newer minor is read with a warning (its new fields are ignored).
void read_format_version(const reader::Object& top, Manifest& m) {
    m.file_format_version = required_text(top, "file_format_version");
    int fv[3];
    if (!parse_version(m.file_format_version, 3, 3, fv))
        top.fail("file_format_version", "must look like \"1.0.0\", got \"" + m.file_format_version + "\"");
    if (fv[0] != kManifestFormatMajor)
        top.fail("file_format_version",
                 "has unsupported major version " + std::to_string(fv[0]) + " (this loader reads 1.x.y)");
    if (fv[1] > kManifestFormatMinor)
        m.warnings.push_back("manifest " + m.manifest_path.string() + ": file_format_version " + m.file_format_version +
                             " is newer than 1.0.0; unknown fields are ignored");
}

void read_abi_version(const reader::Object& p, Manifest& m) {
    std::string abi = required_text(p, "abi_version");
    int av[3];
    if (!parse_version(abi, 2, 2, av) || av[0] > 0xFFFF || av[1] > 0xFFFF)
        p.fail("abi_version", "must look like \"1.0\", got \"" + abi + "\"");
    m.abi_major = static_cast<uint16_t>(av[0]);
    m.abi_minor = static_cast<uint16_t>(av[1]);
}

// A manifest of a newer ABI minor may name capabilities this loader does not know yet: those
// are ignored with a warning, as the ABI ignores unknown bits. Otherwise an unknown name is a
// mistake ("teleport", "html-body") and the manifest is refused.
void read_capabilities(const reader::Object& p, Manifest& m) {
    const reader::Array caps = p.required_array("capabilities", "must be an array of strings");
    const bool newer_abi = m.abi_major == EP_ABI_VERSION_MAJOR && m.abi_minor > EP_ABI_VERSION_MINOR;
    for (std::size_t i = 0; i < caps.size(); ++i) {
        std::string name = caps.string(i, "must be a non-empty string");
        if (name.empty()) reader::fail(caps.path(i), "must be a non-empty string");
        if (!is_known_capability(name)) {
            std::string what = "\"" + name + "\" is not a capability of ABI " + std::to_string(EP_ABI_VERSION_MAJOR) +
                               "." + std::to_string(EP_ABI_VERSION_MINOR) + " (known: " + known_capabilities() + ")";
            if (!newer_abi) reader::fail(caps.path(i), what);
            m.warnings.push_back("manifest " + m.manifest_path.string() + ": field '" + caps.path(i) + "' " + what +
                                 "; ignored");
            continue;
        }
        m.capabilities.push_back(std::move(name));
    }
}

// Unknown keys are ignored, not refused: a manifest written for a newer 1.x loader still loads.
Manifest read_document(std::string_view json_text, const std::filesystem::path& file) {
    const boost::json::value root = reader::parse(json_text);
    const reader::Object top(root, "", reader::Null::is_wrong_type, "must contain a JSON object");
    Manifest m;
    m.manifest_path = file;
    read_format_version(top, m);

    const reader::Object p = top.required_object("provider");
    m.id = required_text(p, "id");
    if (!is_valid_id(m.id)) p.fail("id", "must be 1-64 characters of a-z, 0-9, '_' or '-', got \"" + m.id + "\"");
    m.display_name = required_text(p, "display_name");
    std::filesystem::path lib = required_text(p, "library_path");
    m.library_path = lib.is_absolute() ? lib : (file.parent_path() / lib).lexically_normal();
    read_abi_version(p, m);
    read_capabilities(p, m);
    return m;
}

}  // namespace

Manifest parse_manifest(std::string_view json_text, const std::filesystem::path& file) {
    if (json_text.size() > kMaxManifestBytes) fail(file, "", "is larger than 64 KiB");
    try {
        return read_document(json_text, file);
    } catch (const reader::FieldError& e) {
        fail(file, e.path(), e.problem());
    }
}

uint64_t capability_bits(const std::vector<std::string>& names) {
    uint64_t bits = 0;
    for (const auto& n : names)
        for (const auto& c : kCapabilityNames)
            if (c.name == n) bits |= c.bit;
    return bits;
}

Manifest read_manifest(const std::filesystem::path& file) {
    std::error_code ec;
    std::filesystem::path canonical = std::filesystem::canonical(file, ec);
    if (ec) throw LoadError("manifest " + file.string() + ": cannot be opened: " + ec.message());
    try {
        return parse_manifest(reader::read_regular_file(canonical, kMaxManifestBytes), canonical);
    } catch (const reader::FileError& e) {
        throw LoadError("manifest " + file.string() + ": " + e.what());
    }
}

namespace {

std::vector<std::filesystem::path> split_paths(const char* list) {
    std::vector<std::filesystem::path> out;
    std::string_view rest = list ? list : "";
    while (!rest.empty()) {
        auto colon = rest.find(':');
        if (std::string_view dir = rest.substr(0, colon); !dir.empty()) out.emplace_back(dir);
        rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
    }
    return out;
}

}  // namespace

std::vector<std::filesystem::path> manifest_search_dirs(const Getenv& getenv) {
    if (const char* only = getenv("EP_PROVIDER_PATH"); only && *only) return split_paths(only);
    std::vector<std::filesystem::path> dirs = split_paths(getenv("EP_ADD_PROVIDER_PATH"));
    const std::filesystem::path sub = "email-provider/providers";
    auto set_or = [&](const char* name, const char* fallback) {
        const char* v = getenv(name);
        return std::string(v && *v ? v : fallback);
    };
    const char* home = getenv("HOME");
    std::string home_dir = home ? home : "";
    auto per_user = [&](const char* name, const char* under_home) {
        if (const char* v = getenv(name); v && *v)
            dirs.push_back(std::filesystem::path(v) / sub);
        else if (!home_dir.empty())
            dirs.push_back(std::filesystem::path(home_dir) / under_home / sub);
    };
    per_user("XDG_CONFIG_HOME", ".config");
    for (auto& d : split_paths(set_or("XDG_CONFIG_DIRS", "/etc/xdg").c_str())) dirs.push_back(d / sub);
    dirs.push_back(std::filesystem::path("/etc") / sub);
    per_user("XDG_DATA_HOME", ".local/share");
    for (auto& d : split_paths(set_or("XDG_DATA_DIRS", "/usr/local/share:/usr/share").c_str())) dirs.push_back(d / sub);
    return dirs;
}

std::vector<std::filesystem::path> find_manifests(const std::vector<std::filesystem::path>& dirs) {
    std::vector<std::filesystem::path> found;
    for (const auto& dir : dirs) {
        std::error_code ec;
        std::vector<std::filesystem::path> here;
        for (const auto& entry : std::filesystem::directory_iterator(dir, ec))
            if (entry.path().extension() == ".json" && entry.is_regular_file(ec)) here.push_back(entry.path());
        std::sort(here.begin(), here.end());
        found.insert(found.end(), here.begin(), here.end());
    }
    return found;
}

}  // namespace ep::loader
