// The plugin is built on the provider kit (plugin_kit/: HTTP, the vault, redaction, secret strings,
// encodings), whose names read here as the plugin's own.
#pragma once

namespace ep::kit {}

namespace outlook {
using namespace ep::kit;
}  // namespace outlook
