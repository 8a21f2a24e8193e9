// fuzz_manifest: ep::loader::parse_manifest on arbitrary text.
//
// Manifests are files anyone who can write to a manifest directory controls, and the host
// reads them before it loads any plugin, so a bad one must be refused with LoadError and
// nothing else. When a manifest is accepted, what the loader goes on to trust (the id, the
// library path, the ABI version it negotiates with) must be exactly what the format allows.
#include "fuzz_support.hpp"

#include <email_provider/manifest.hpp>

#include <boost/json.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace {

// read_manifest passes a canonical path, so the harness does too: a relative library_path
// must then come out absolute.
const std::filesystem::path kManifestFile = "/opt/email-provider/manifests/outlook.json";

// Reference reading of a version string: dot-separated decimal numbers, digits only. The
// error message the loader gives for a bad version ("must look like \"1.0\"") is the spec.
std::optional<std::vector<long>> decimal_parts(std::string_view text) {
    std::vector<long> parts;
    while (true) {
        const auto dot = text.find('.');
        const std::string_view part = text.substr(0, dot);
        if (part.empty() || part.size() > 5) return std::nullopt;
        long value = 0;
        for (char c : part) {
            if (c < '0' || c > '9') return std::nullopt;
            value = value * 10 + (c - '0');
        }
        parts.push_back(value);
        if (dot == std::string_view::npos) return parts;
        text.remove_prefix(dot + 1);
    }
}

bool is_valid_id(std::string_view id) {
    if (id.empty() || id.size() > 64) return false;
    for (char c : id)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
    return true;
}

void check_accepted(std::string_view text, const ep::loader::Manifest& m) {
    FUZZ_CHECK(m.manifest_path == kManifestFile, m.manifest_path.string());
    FUZZ_CHECK(is_valid_id(m.id), m.id);
    FUZZ_CHECK(!m.display_name.empty(), text);
    FUZZ_CHECK(m.library_path.is_absolute(), m.library_path.string());

    const auto format = decimal_parts(m.file_format_version);
    FUZZ_CHECK(format && format->size() == 3 && (*format)[0] == ep::loader::kManifestFormatMajor,
               m.file_format_version);

    // The manifest parsed, so the same text parses here; read abi_version as written.
    const boost::json::value root = boost::json::parse(text);
    const boost::json::object& provider = root.as_object().at("provider").as_object();
    const std::string abi_text(provider.at("abi_version").as_string());
    const auto abi = decimal_parts(abi_text);
    FUZZ_CHECK(abi && abi->size() == 2, abi_text);
    FUZZ_CHECK(m.abi_major == (*abi)[0] && m.abi_minor == (*abi)[1],
               abi_text + " was read as " + std::to_string(m.abi_major) + "." + std::to_string(m.abi_minor));

    const boost::json::array& caps = provider.at("capabilities").as_array();
    // Unknown names are refused, except in a manifest of a newer minor, which drops them.
    const bool newer_minor = m.abi_major == EP_ABI_VERSION_MAJOR && m.abi_minor > EP_ABI_VERSION_MINOR;
    FUZZ_CHECK(newer_minor ? m.capabilities.size() <= caps.size() : m.capabilities.size() == caps.size(), text);
    for (const auto& c : m.capabilities) FUZZ_CHECK(ep::loader::capability_bits({c}) != 0, c);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    const std::string_view text = fuzz::as_text(data, size);
    try {
        check_accepted(text, ep::loader::parse_manifest(text, kManifestFile));
    } catch (const ep::loader::LoadError& e) {
        // Refusals name the file, so an operator with many manifests knows which one.
        FUZZ_CHECK(std::string_view(e.what()).starts_with("manifest " + kManifestFile.string() + ": "), e.what());
    }
    return 0;
}
