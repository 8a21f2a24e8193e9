#include "cli/cli_commands.hpp"

#include "cli/cli_support.hpp"
#include "core/host_util.hpp"

#include <boost/json.hpp>

#include <cstdio>
#include <iostream>
#include <map>

namespace cli {
namespace {

namespace json = boost::json;
using host::json_str;
using host::printable;

int cmd_providers(host::HostRuntime& rt, const GlobalOptions& o) {
    json::array list;
    for (const auto& e : rt.providers->entries()) {
        json::object p{{"id", e.id},
                       {"display_name", e.display_name},
                       {"manifest", e.manifest_path.string()},
                       {"available", e.available()},
                       {"isolation", e.isolated ? "process" : "in_process"}};
        if (e.instance) {
            const ep::loader::ProviderInfo& info = e.instance->info();
            p["abi_version"] = std::to_string(info.abi_major) + "." + std::to_string(info.abi_minor);
            p["provider_version"] = info.provider_version;
        }
        if (!e.available()) p["error"] = e.reason();
        list.push_back(std::move(p));
    }
    if (o.json) {
        std::cout << json::serialize(json::object{{"providers", list}}) << "\n";
        return kOk;
    }
    for (const auto& v : list) {
        const auto& p = v.as_object();
        if (p.at("available").as_bool())
            std::cout << printable(json_str(v, "id")) << "\t" << printable(json_str(v, "display_name")) << "\tABI "
                      << json_str(v, "abi_version") << "\t"
                      << (json_str(v, "isolation") == "process" ? "own process" : "in the host's process") << "\n";
        else
            std::cout << (json_str(v, "id").empty() ? "?" : printable(json_str(v, "id"))) << "\tunavailable\t"
                      << printable(json_str(v, "error")) << "\n";
    }
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
