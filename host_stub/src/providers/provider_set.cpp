#include "providers/provider_set.hpp"

#include <ep_json/reader.hpp>

#include <boost/json/parse.hpp>

#include <stdexcept>

namespace host {
namespace {

// The instance and the services it uses, destroyed in that order (members go in reverse).
struct Running {
    std::unique_ptr<HostServices> services;
    std::unique_ptr<ep::loader::Provider> instance;
};

std::string fingerprint_of(const ProviderSetting& setting) {
    // A manifest that is no regular file (a FIFO would block here) counts as empty;
    // read_manifest then says what is wrong with it.
    std::string manifest;
    try {
        manifest = ep::json_reader::read_regular_file(setting.manifest);
    } catch (const ep::json_reader::FileError&) {}
    return manifest + '\n' + (setting.enabled ? "enabled" : "disabled") + '\n' +
           (setting.isolated ? "process" : "in_process") + '\n' + setting.config_json;
}

// The environment variables a provider's config names as {"env": "NAME"} (the kit's way to
// give a secret: ep_kit/plugin_settings.hpp), which its runner keeps: only its own.
void add_named_variables(const boost::json::value& v, std::vector<std::string>& names) {
    if (v.is_array())
        for (const auto& e : v.as_array()) add_named_variables(e, names);
    if (!v.is_object()) return;
    for (const auto& [key, value] : v.as_object()) {
        if (key == "env" && value.is_string()) names.emplace_back(value.as_string());
        add_named_variables(value, names);
    }
}

ep::loader::IsolationOptions isolation_for(const HostConfig& config, const ProviderSetting& setting,
                                           uint16_t host_abi_minor) {
    ep::loader::IsolationOptions isolation = config.isolation;
    isolation.host_abi_minor = host_abi_minor;
    boost::system::error_code ec;
    boost::json::value provider_config = boost::json::parse(setting.config_json, ec);
    if (!ec) add_named_variables(provider_config, isolation.pass_environment);
    return isolation;
}

std::string join(const std::vector<std::string>& names) {
    std::string out;
    for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
    return out.empty() ? "none" : out;
}

}  // namespace

std::string ReloadReport::summary() const {
    return "added: " + join(added) + "; removed: " + join(removed) + "; replaced: " + join(replaced) +
           "; unchanged: " + join(unchanged) + "; failed: " + join(failed);
}

ProviderSet::ProviderSet(const HostConfig& config, SecretStore& store, Logger& logger, Clock clock,
                         ep::loader::LoadOptions options)
    : store_(store), logger_(logger), clock_(std::move(clock)), options_(options) {
    discovered_ = discover(config);
    entries_ = load(config, *discovered_, {}, nullptr);
}

ProviderSet::~ProviderSet() {
    // Instances first (they wait for their in-flight sends), in reverse load order.
    while (!entries_.empty()) entries_.pop_back();
}

ProviderSet::Discovery ProviderSet::discover(const HostConfig& config) {
    auto found =
        std::make_shared<ep::loader::ManifestDiscovery>(ep::loader::discover_manifests(config.provider_search_path));
    for (const auto& refused : found->refused)
        logger_.log(EP_LOG_WARN, "host", refused.error + " (skipped in the provider search path)");
    return found;
}

ProviderSet::Entries ProviderSet::load(const HostConfig& config, const ep::loader::ManifestDiscovery& found,
                                       const Entries& keep, ReloadReport* report) {
    Entries out;
    for (const auto& configured : config.providers) {
        ProviderSetting setting = configured;
        std::string not_found_error;
        try {
            setting = locate_manifest(configured, found, config.file);
        } catch (const ConfigError& e) {
            not_found_error = e.what();
        }
        std::string fingerprint = fingerprint_of(setting);
        std::shared_ptr<const ProviderEntry> previous;
        for (const auto& k : keep)
            if (!setting.manifest.empty() && k->manifest_path == setting.manifest) previous = k;
        bool id_taken = false;  // a manifest named twice: loaded again below, to be refused as a duplicate
        for (const auto& other : out) id_taken = id_taken || (previous && other->id == previous->id);
        if (previous && previous->available() && previous->fingerprint == fingerprint && !id_taken) {
            out.push_back(previous);
            if (report) report->unchanged.push_back(previous->id);
            continue;
        }
        auto e = not_found_error.empty() ? load_one(config, setting, std::move(fingerprint), out)
                                         : not_found(setting, not_found_error);
        if (report) {
            std::string name = e->id.empty() ? setting.manifest.string() : e->id;
            bool was_there = false;
            for (const auto& k : keep) was_there = was_there || (!e->id.empty() && k->id == e->id);
            if (!e->available())
                report->failed.push_back(name);
            else if (was_there)
                report->replaced.push_back(name);
            else
                report->added.push_back(name);
        }
        out.push_back(std::move(e));
    }
    if (report)
        for (const auto& k : keep) {
            bool kept = false;
            for (const auto& e : out) kept = kept || e->id == k->id;
            if (!kept && !k->id.empty()) report->removed.push_back(k->id);
        }
    return out;
}

std::shared_ptr<ProviderEntry> ProviderSet::load_one(const HostConfig& config, const ProviderSetting& setting,
                                                     std::string fingerprint, const Entries& loaded) {
    auto e = std::make_shared<ProviderEntry>();
    e->manifest_path = setting.manifest;
    e->manifest_found_in = setting.manifest_source;
    e->id = setting.id;  // the config's, until the manifest says
    e->enabled = setting.enabled;
    e->isolated = setting.isolated;
    e->fingerprint = std::move(fingerprint);
    try {
        ep::loader::Manifest m = ep::loader::read_manifest(setting.manifest);
        if (!setting.id.empty() && m.id != setting.id)
            throw ep::loader::LoadError("config " + config.file.string() + ": provider \"" + setting.id +
                                        "\" names the manifest " + setting.manifest.string() +
                                        ", whose provider.id is \"" + m.id + "\": they must be the same");
        e->id = m.id;
        e->display_name = m.display_name;
        e->warnings = m.warnings;
        for (const auto& other : loaded)
            if (other->id == m.id)
                throw ep::loader::LoadError("manifest " + m.manifest_path.string() + ": field 'provider.id' \"" + m.id +
                                            "\" is already used by " + other->manifest_path.string());
        if (!setting.enabled) {
            e->error = "disabled in " + config.file.string();
        } else {
            auto running = std::make_shared<Running>();
            running->services = std::make_unique<HostServices>(m.id, store_, logger_, clock_, events_);
            if (setting.isolated) {
                running->instance = ep::loader::start_isolated(m, running->services->api(), setting.config_json,
                                                               isolation_for(config, setting, options_.host_abi_minor));
            } else {
                running->instance = ep::loader::ProviderInstance::create(ep::loader::load_provider(m, options_),
                                                                         running->services->api(), setting.config_json);
            }
            e->instance = std::shared_ptr<ep::loader::Provider>(running, running->instance.get());
            const ep::loader::ProviderInfo& info = e->instance->info();
            e->warnings = info.warnings;
            logger_.log(EP_LOG_DEBUG, "host",
                        "loaded provider '" + m.id + "' (" + info.provider_name + " " + info.provider_version +
                            ", ABI " + std::to_string(info.abi_major) + "." + std::to_string(info.abi_minor) +
                            (setting.isolated ? ", in its own process)" : ", in this process)"));
        }
    } catch (const std::exception& ex) {
        e->error = ex.what();
        e->instance.reset();
        logger_.log(EP_LOG_ERROR, "host", e->error);
    }
    for (const auto& w : e->warnings) logger_.log(EP_LOG_WARN, "host", w);
    return e;
}

std::shared_ptr<ProviderEntry> ProviderSet::not_found(const ProviderSetting& setting, const std::string& error) {
    auto e = std::make_shared<ProviderEntry>();
    e->id = setting.id;
    e->enabled = setting.enabled;
    e->isolated = setting.isolated;
    if (setting.enabled) {
        e->error = error;
        logger_.log(EP_LOG_ERROR, "host", error);
    } else {
        e->error = "disabled; " + error;
    }
    return e;
}

ReloadReport ProviderSet::reload(const HostConfig& config) {
    std::lock_guard reloading(reload_mutex_);
    Entries old;
    {
        std::lock_guard lock(mutex_);
        old = entries_;
    }
    ReloadReport report;
    Discovery found = discover(config);
    auto next = load(config, *found, old, &report);
    {
        std::lock_guard lock(mutex_);
        entries_.swap(next);
        discovered_ = std::move(found);
    }
    // `next` now holds the old entries: instances nobody else holds are destroyed here (each
    // waits for its in-flight work); the others go with their last user.
    next.clear();
    old.clear();
    logger_.log(EP_LOG_INFO, "host", "providers reloaded from " + config.file.string() + ": " + report.summary());
    return report;
}

std::vector<ProviderEntry> ProviderSet::entries() const {
    std::lock_guard lock(mutex_);
    std::vector<ProviderEntry> out;
    for (const auto& e : entries_) out.push_back(*e);
    return out;
}

std::shared_ptr<const ep::loader::ManifestDiscovery> ProviderSet::discovered() const {
    std::lock_guard lock(mutex_);
    return discovered_;
}

std::shared_ptr<const ProviderEntry> ProviderSet::entry(std::string_view id) const {
    std::lock_guard lock(mutex_);
    for (const auto& e : entries_)
        if (e->id == id) return e;
    return nullptr;
}

std::vector<std::shared_ptr<ProviderHandle>> ProviderSet::handles() const {
    std::lock_guard lock(mutex_);
    std::vector<std::shared_ptr<ProviderHandle>> out;
    for (const auto& e : entries_) out.push_back(loaded_provider_handle(e));
    return out;
}

std::shared_ptr<ProviderHandle> ProviderSet::find(std::string_view id) const {
    auto e = entry(id);
    return e ? loaded_provider_handle(std::move(e)) : nullptr;
}

std::shared_ptr<ProviderHandle> ProviderSet::available(std::string_view id) const {
    auto e = entry(id);
    return e && e->available() ? loaded_provider_handle(std::move(e)) : nullptr;
}

std::shared_ptr<ProviderHandle> ProviderSet::require(std::string_view id) const {
    auto e = entry(id);
    if (e == nullptr) throw ProviderUnavailable(std::string(id), std::nullopt);
    auto handle = loaded_provider_handle(e);
    handle->require_available();
    return handle;
}

std::shared_ptr<ep::loader::Provider> ProviderSet::instance(std::string_view id) const {
    auto e = entry(id);
    if (e == nullptr) throw ProviderUnavailable(std::string(id), std::nullopt);
    if (!e->available()) throw ProviderUnavailable(std::string(id), e->reason());
    return e->instance;
}

std::string ProviderEntry::reason() const {
    if (!error.empty()) return error;
    if (instance == nullptr) return {};
    return instance->unavailable_reason().value_or(std::string());
}

}  // namespace host
