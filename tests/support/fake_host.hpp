// An in-process ep_host_api for plugin tests: an in-memory versioned secret store with
// compare-and-swap, a manual clock, a captured log, and switches to make the store fail.
// Thread-safe, like a real host must be.
#pragma once

#include <email_provider/ep_abi.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace test_support {

class FakeHost {
public:
    struct LogLine {
        ep_log_level level;
        std::string message;
    };

    FakeHost();
    FakeHost(const FakeHost&) = delete;
    FakeHost& operator=(const FakeHost&) = delete;

    const ep_host_api* api() const { return &api_; }

    // Clock (Unix ms). Starts at a fixed, realistic instant.
    int64_t now_ms() const { return now_ms_.load(); }
    void set_now_ms(int64_t t) { now_ms_ = t; }
    void advance_seconds(int64_t s) { now_ms_ += s * 1000; }

    // Store inspection and manipulation.
    std::map<std::string, std::vector<uint8_t>> secrets() const;
    bool has_key(const std::string& key) const;
    std::size_t count_prefix(const std::string& prefix) const;
    void overwrite(const std::string& key, std::vector<uint8_t> value);  // bumps the version
    int put_count() const { return puts_.load(); }
    int conflict_count() const { return conflicts_.load(); }
    void fail_store(bool fail) { fail_store_ = fail; }

    std::vector<LogLine> log_lines() const;
    std::string log_text() const;  // every line, newline-separated

    // What the plugin counted through count_event (ABI 1.3), as "event/outcome", in order.
    // Always empty in a host built from an older header, which lends no count_event.
    std::vector<std::string> events() const;

private:
    struct Entry {
        std::vector<uint8_t> value;
        uint64_t version;
    };

    mutable std::mutex mutex_;
    std::map<std::string, Entry> store_;
    uint64_t next_version_ = 1;
    std::vector<LogLine> log_;
    std::vector<std::string> events_;
    std::atomic<int64_t> now_ms_;
    std::atomic<int> puts_{0};
    std::atomic<int> conflicts_{0};
    std::atomic<bool> fail_store_{false};
    ep_host_api api_{};
};

}  // namespace test_support
