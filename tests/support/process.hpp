// Runs a program and captures its exit status, standard output and standard error.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace test_support {

struct ProcessResult {
    int exit_code = -1;  // -1 when killed by a signal
    std::string out;
    std::string err;
};

ProcessResult run_process(const std::vector<std::string>& argv, const std::string& stdin_text = {},
                          const std::vector<std::string>& extra_env = {});

// A fresh directory under the build tree, removed when the object goes away.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path operator/(const std::string& name) const { return path_ / name; }
    void write(const std::string& name, const std::string& content) const;

private:
    std::filesystem::path path_;
};

std::string read_file(const std::filesystem::path& p);

}  // namespace test_support
