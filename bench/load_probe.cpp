// Child process of load_driver (section 4): one cold load of one provider, timed step by step,
// in a process that has never mapped the plugin or its dependencies. Prints one JSON line:
//   {"manifest_us":..,"load_us":..,"create_us":..,"total_us":..,"destroy_us":..}
// load = dlopen (with the plugin's own dependencies) + ep_negotiate + table adoption.
// Usage: load_probe <manifest.json> <config.json>
#include <email_provider/manifest.hpp>
#include <email_provider/provider_loader.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

namespace {

// A host that logs nothing and stores nothing: create must not need the store.
struct NullHost {
    ep_host_api api{};
    NullHost() {
        api.struct_size = sizeof api;
        api.host_ctx = this;
        api.log = [](void*, ep_log_level, ep_str) {};
        api.log_enabled = [](void*, ep_log_level) -> int32_t { return 0; };
        api.now_unix_ms = [](void*) -> int64_t {
            return std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                .count();
        };
        api.secret_get = [](void*, ep_str, ep_secret_receiver, void*) -> ep_status { return EP_ERR_NOT_FOUND; };
        api.secret_put = [](void*, ep_str, ep_bytes, uint64_t, uint64_t* v) -> ep_status {
            *v = 1;
            return EP_OK;
        };
        api.secret_delete = [](void*, ep_str, uint64_t) -> ep_status { return EP_OK; };
        api.secret_delete_prefix = [](void*, ep_str) -> ep_status { return EP_OK; };
    }
};

double us_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: load_probe <manifest.json> <config.json>\n");
        return 2;
    }
    std::ifstream in(argv[2]);
    std::stringstream config;
    config << in.rdbuf();
    const std::string config_text = config.str();
    NullHost host;
    try {
        auto t0 = std::chrono::steady_clock::now();
        ep::loader::Manifest manifest = ep::loader::read_manifest(argv[1]);
        double manifest_us = us_since(t0);
        auto t1 = std::chrono::steady_clock::now();
        auto loaded = ep::loader::load_provider(manifest);
        double load_us = us_since(t1);
        auto t2 = std::chrono::steady_clock::now();
        auto instance = ep::loader::ProviderInstance::create(loaded, &host.api, config_text);
        double create_us = us_since(t2);
        double total_us = us_since(t0);
        auto t3 = std::chrono::steady_clock::now();
        instance.reset();
        double destroy_us = us_since(t3);
        std::printf(
            "{\"manifest_us\":%.1f,\"load_us\":%.1f,\"create_us\":%.1f,\"total_us\":%.1f,\"destroy_us\":%.1f}\n",
            manifest_us, load_us, create_us, total_us, destroy_us);
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "load_probe: %s\n", e.what());
        return 1;
    }
}
