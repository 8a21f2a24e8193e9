#include "cli/cli_commands.hpp"

#include "cli/cli_support.hpp"
#include "core/host_util.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>

namespace cli {
namespace {

namespace json = boost::json;
using host::json_str;
using host::printable;

json::object configured_provider(const host::ProviderEntry& e) {
    json::object p{{"id", e.id},
                   {"display_name", e.display_name},
                   {"manifest", e.manifest_path.string()},
                   {"found_in", e.manifest_found_in},
                   {"available", e.available()},
                   {"isolation", e.isolated ? "process" : "in_process"}};
    if (e.instance) {
        const ep::loader::ProviderInfo& info = e.instance->info();
        p["abi_version"] = std::to_string(info.abi_major) + "." + std::to_string(info.abi_minor);
        p["provider_version"] = info.provider_version;
    }
    if (!e.available()) p["error"] = e.reason();
    return p;
}

json::object found_manifest(const ep::loader::FoundManifest& f) {
    return {{"id", f.manifest.id},
            {"display_name", f.manifest.display_name},
            {"manifest", f.file.string()},
            {"found_in", f.directory.string()}};
}

// What the provider search path holds besides what the config enables, so that an operator
// sees what a package added: providers not enabled, manifests shadowed by an earlier
// directory's (an /etc override), and files that are no valid manifest.
json::object search_path_report(const ep::loader::ManifestDiscovery& found,
                                const std::vector<host::ProviderEntry>& entries) {
    json::array directories, not_enabled, shadowed, invalid;
    for (const auto& d : found.searched) directories.emplace_back(d.string());
    for (const auto& provider : found.providers) {
        const std::string& id = provider.winner.manifest.id;
        if (std::none_of(entries.begin(), entries.end(), [&](const host::ProviderEntry& e) { return e.id == id; }))
            not_enabled.push_back(found_manifest(provider.winner));
        for (const auto& later : provider.shadowed) {
            json::object s = found_manifest(later);
            s["shadowed_by"] = provider.winner.file.string();
            shadowed.push_back(std::move(s));
        }
    }
    for (const auto& r : found.refused)
        invalid.push_back(
            json::object{{"manifest", r.file.string()}, {"found_in", r.directory.string()}, {"error", r.error}});
    return {{"directories", directories}, {"not_enabled", not_enabled}, {"shadowed", shadowed}, {"invalid", invalid}};
}

std::string where_found(const json::value& p) {
    const std::string found_in = json_str(p, "found_in");
    if (found_in == host::kManifestFromConfig) return "manifest " + printable(json_str(p, "manifest")) + " (config)";
    return "found in " + printable(found_in);
}

void print_providers(const json::array& list, const json::object& search) {
    for (const auto& v : list) {
        if (v.as_object().at("available").as_bool())
            std::cout << printable(json_str(v, "id")) << "\t" << printable(json_str(v, "display_name")) << "\tABI "
                      << json_str(v, "abi_version") << "\t"
                      << (json_str(v, "isolation") == "process" ? "own process" : "in the host's process") << "\t"
                      << where_found(v) << "\n";
        else
            std::cout << (json_str(v, "id").empty() ? "?" : printable(json_str(v, "id"))) << "\tunavailable\t"
                      << printable(json_str(v, "error")) << "\n";
    }
    for (const auto& v : search.at("not_enabled").as_array())
        std::cout << printable(json_str(v, "id")) << "\t" << printable(json_str(v, "display_name"))
                  << "\tinstalled, not enabled\t" << where_found(v) << "\n";
    for (const auto& v : search.at("shadowed").as_array())
        std::cout << printable(json_str(v, "id")) << "\tshadowed by " << printable(json_str(v, "shadowed_by")) << "\t"
                  << printable(json_str(v, "manifest")) << "\n";
    for (const auto& v : search.at("invalid").as_array())
        std::cout << "?\tinvalid manifest\t" << printable(json_str(v, "error")) << "\n";
}

int cmd_providers(host::HostRuntime& rt, const GlobalOptions& o) {
    const std::vector<host::ProviderEntry> entries = rt.providers->entries();
    json::array list;
    for (const auto& e : entries) list.push_back(configured_provider(e));
    const json::object search = search_path_report(*rt.providers->discovered(), entries);
    if (o.json)
        std::cout << json::serialize(json::object{{"providers", list}, {"search_path", search}}) << "\n";
    else
        print_providers(list, search);
    return kOk;
}

}  // namespace

po::variables_map parse(const Args& args, const po::options_description& desc) {
    po::variables_map vm;
    try {
        po::store(po::command_line_parser(args).options(desc).run(), vm);
        po::notify(vm);
    } catch (const po::error& e) {
        throw UsageError(e.what());
    }
    return vm;
}

po::options_description account_options(const char* name) {
    po::options_description d(name);
    d.add_options()("provider", po::value<std::string>()->required(), "provider id")(
        "account", po::value<std::string>()->required(), "host account id");
    return d;
}

void print(const GlobalOptions& o, const std::string& document, const std::string& text) {
    if (o.json)
        std::cout << document << "\n";
    else
        std::cout << text << "\n";
}

int fail_call(const host::ProviderAnswer& answer, const std::string& what) {
    std::fprintf(stderr, "host_stub: %s failed: %s\n", what.c_str(), answer.reason().c_str());
    return kError;
}

void require_user(host::HostRuntime& rt, const std::string& user_id, const std::string& consequence) {
    if (!rt.store->user(user_id)) throw std::runtime_error("no host user '" + user_id + "'" + consequence);
}

int run_command(const std::string& command, const std::vector<std::string>& args, const GlobalOptions& options) {
    using Handler = int (*)(host::HostRuntime&, const GlobalOptions&, const std::vector<std::string>&);
    static const std::map<std::string, Handler> commands = {
        {"providers",
         [](host::HostRuntime& rt, const GlobalOptions& o, const std::vector<std::string>& a) {
             if (!a.empty()) throw UsageError("providers takes no options");
             return cmd_providers(rt, o);
         }},
        {"connect", cmd_connect},
        {"complete", cmd_complete},
        {"status", cmd_status},
        {"check", cmd_check},
        {"disconnect", cmd_disconnect},
        {"send", cmd_send},
        {"delete-user", cmd_delete_user},
        {"settings", cmd_settings},
        {"nudge", cmd_nudge},
        {"outbox", cmd_outbox},
        {"reload", cmd_reload},
        {"serve", cmd_serve}};
    auto it = commands.find(command);
    if (it == commands.end()) {
        std::fprintf(stderr, "host_stub: unknown command '%s' (see --help)\n", command.c_str());
        return kUsage;
    }
    if (command == "serve") {
        sigset_t signals = serve_signals();
        pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    }
    try {
        auto rt = std::make_unique<host::HostRuntime>(options.config_path);
        return it->second(*rt, options, args);
    } catch (const host::OutboxError& e) {
        std::fprintf(stderr, "host_stub: %s: %s\n", command.c_str(), printable(e.what()).c_str());
        return kNotSuccessful;
    } catch (const UsageError& e) {
        std::fprintf(stderr, "host_stub: %s: %s (see --help)\n", command.c_str(), printable(e.what()).c_str());
        return kUsage;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "host_stub: %s\n", printable(e.what()).c_str());
        return kError;
    }
}

}  // namespace cli
