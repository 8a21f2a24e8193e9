#pragma once

#include <string>
#include <vector>

namespace cli {

struct GlobalOptions {
    std::string config_path;
    bool json = false;
};

// Runs one host_stub command; returns the process exit status.
int run_command(const std::string& command, const std::vector<std::string>& args, const GlobalOptions& options);

}  // namespace cli
