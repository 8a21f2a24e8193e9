// Provider manifests: one JSON file per provider package (after Vulkan/OpenXR manifests);
// the format is specified in plugin_api/MANIFEST.md.
//
//   {
//     "file_format_version": "1.0.0",
//     "provider": {
//       "id": "outlook",
//       "display_name": "Personal Outlook",
//       "library_path": "../lib/liboutlook_plugin.so",
//       "abi_version": "1.0",
//       "capabilities": ["interactive_connect", "html_body", "attachments", "custom_headers"]
//     }
//   }
//
// A relative library_path is resolved against the directory of the canonical
// (symlink-resolved) manifest path, never against the process's search path.
#pragma once

#include <email_provider/ep_abi.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace ep::loader {

// Every refusal, with a message naming the file, the field (when there is one) and what is wrong.
class LoadError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct Manifest {
    std::filesystem::path manifest_path;  // canonical
    std::string file_format_version;
    std::string id;
    std::string display_name;
    std::filesystem::path library_path;  // absolute
    uint16_t abi_major = 0;
    uint16_t abi_minor = 0;
    std::vector<std::string> capabilities;
    std::vector<std::string> warnings;  // accepted but worth logging (e.g. newer format minor)
};

// The capability vocabulary of manifests (MANIFEST.md): each name is one EP_CAP_* bit.
struct CapabilityName {
    std::string_view name;
    uint64_t bit;
};
inline constexpr CapabilityName kCapabilityNames[] = {
    {"interactive_connect", EP_CAP_INTERACTIVE_CONNECT},
    {"html_body", EP_CAP_HTML_BODY},
    {"attachments", EP_CAP_ATTACHMENTS},
    {"custom_headers", EP_CAP_CUSTOM_HEADERS},
    {"threading", EP_CAP_THREADING},
};

// The EP_CAP_* bits of capability names this loader knows (unknown names add nothing).
uint64_t capability_bits(const std::vector<std::string>& names);

// The manifest format this loader writes and fully understands.
inline constexpr int kManifestFormatMajor = 1;
inline constexpr int kManifestFormatMinor = 0;

// Reads and validates a manifest file: a regular file of at most 64 KiB, refused at once when it
// is anything else (a FIFO, a device). Throws LoadError.
Manifest read_manifest(const std::filesystem::path& file);

// Validates manifest text as if read from `file` (used by read_manifest and the fuzzer).
Manifest parse_manifest(std::string_view json_text, const std::filesystem::path& file);

// Reads an environment variable: nullptr when unset.
using Getenv = std::function<const char*(const char*)>;

// The directories a host that discovers providers searches, in order (MANIFEST.md "Where
// hosts find manifests": EP_PROVIDER_PATH, EP_ADD_PROVIDER_PATH, then the XDG directories).
std::vector<std::filesystem::path> manifest_search_dirs(const Getenv& getenv = std::getenv);

// Every *.json file in `dirs` (missing directories are skipped), sorted by name within each
// directory, in the order of `dirs`.
std::vector<std::filesystem::path> find_manifests(const std::vector<std::filesystem::path>& dirs);

}  // namespace ep::loader
