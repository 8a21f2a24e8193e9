// The plugin is built on the provider kit (plugin_kit/: HTTP, the vault, OAuth 2.0 pieces, secret
// strings, encodings), whose names read here as the plugin's own.
#pragma once

namespace ep::kit {}

namespace gmail {
using namespace ep::kit;
}  // namespace gmail
