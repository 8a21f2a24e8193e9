// What the command line's commands share: exit statuses, option parsing, printing a result.
// Internal to cli/; each *_commands.cpp file defines its group of commands.
#pragma once

#include "cli/cli_commands.hpp"
#include "core/host_runtime.hpp"
#include "providers/provider_handle.hpp"

#include <boost/json/value.hpp>
#include <boost/program_options.hpp>

#include <csignal>
#include <stdexcept>
#include <string>
#include <vector>

namespace cli {

namespace po = boost::program_options;

constexpr int kOk = 0, kError = 1, kUsage = 2, kNotSuccessful = 3;

struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

using Args = std::vector<std::string>;

po::variables_map parse(const Args& args, const po::options_description& desc);
// --provider and --account, both required.
po::options_description account_options(const char* name);
// The document with --json, else the text.
void print(const GlobalOptions& o, const std::string& document, const std::string& text);
// Says on stderr why the call failed; returns the exit status.
int fail_call(const host::ProviderAnswer& answer, const std::string& what);
// The host user, or a runtime_error naming the unknown id (`consequence`: what did not happen).
void require_user(host::HostRuntime& rt, const std::string& user_id, const std::string& consequence);

// serve_command.cpp: the signals serve waits for (blocked before any thread starts).
sigset_t serve_signals();
int cmd_serve(host::HostRuntime& rt, const GlobalOptions& o, const Args& args);
int cmd_reload(host::HostRuntime& rt, const GlobalOptions& o, const Args& args);

// account_commands.cpp: one provider account.
int cmd_connect(host::HostRuntime& rt, const GlobalOptions& o, const Args& args);
int cmd_complete(host::HostRuntime& rt, const GlobalOptions& o, const Args& args);
int cmd_status(host::HostRuntime& rt, const GlobalOptions& o, const Args& args);
int cmd_check(host::HostRuntime& rt, const GlobalOptions& o, const Args& args);
int cmd_disconnect(host::HostRuntime& rt, const GlobalOptions& o, const Args& args);
int cmd_send(host::HostRuntime& rt, const GlobalOptions& o, const Args& args);

// outbox_commands.cpp: host users, their settings and their nudges.
int cmd_delete_user(host::HostRuntime& rt, const GlobalOptions& o, const Args& args);
int cmd_settings(host::HostRuntime& rt, const GlobalOptions& o, const Args& args);
int cmd_nudge(host::HostRuntime& rt, const GlobalOptions& o, const Args& args);
int cmd_outbox(host::HostRuntime& rt, const GlobalOptions& o, const Args& args);

}  // namespace cli
