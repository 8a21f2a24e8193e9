// Shared by the fuzz targets.
//
// A broken property has to look like a crash to libFuzzer: then it stops, saves the input
// as crash-<sha1> and scripts/fuzz.sh counts it, exactly as for a sanitizer report. So a
// failed FUZZ_CHECK prints what was expected and aborts; it is never an exception, which
// the code under test might swallow.
//
// An exception the harness does not catch also ends in std::terminate, i.e. a crash: each
// harness catches only the exception type its API documents, so anything else is a finding.
#pragma once

#include <email_provider/ep_sdk.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>

namespace fuzz {

[[noreturn]] inline void fail(const char* file, int line, const char* condition, std::string_view detail) {
    std::fprintf(stderr, "\n==fuzz== property failed at %s:%d\n==fuzz==   %s\n", file, line, condition);
    if (!detail.empty()) {
        // Printed escaped: the detail is often the very string that is malformed.
        std::string shown;
        for (unsigned char c : detail.substr(0, 2000)) {
            if (c >= 0x20 && c < 0x7F && c != '\\') {
                shown.push_back(static_cast<char>(c));
            } else {
                char hex[8];
                std::snprintf(hex, sizeof hex, "\\x%02x", c);
                shown += hex;
            }
        }
        std::fprintf(stderr, "==fuzz==   detail: %s\n", shown.c_str());
    }
    std::abort();
}

inline std::string_view as_text(const uint8_t* data, std::size_t size) {
    return {reinterpret_cast<const char*>(data), size};
}

inline std::span<const uint8_t> as_bytes(const uint8_t* data, std::size_t size) { return {data, size}; }

// Every ep::sdk::Error ends up in an ep.error/1 or ep.send_result/1 document, which the SDK
// writes byte for byte (append_json_string): a message or field that is not UTF-8 makes the
// whole document unreadable to the host's JSON parser.
inline bool is_document_safe(std::string_view s) { return ep::sdk::is_valid_utf8(s); }

// True when `text` contains a run of `run` bytes of `input`. Compared
// by hashes alone, never with memcmp or find: libFuzzer records the operands of every memcmp and
// copies them into later inputs, so comparing the input with an error message would teach it the
// message, and inputs would then "quote" the message by construction. (A 64-bit hash collision
// would be a false report; at these sizes it does not happen.) Runs inside `allowed`, a value the
// text may name (an expected issuer), do not count.
inline bool quotes_input(std::string_view text, std::string_view input, std::size_t run,
                         std::string_view allowed = {}) {
    if (run == 0 || input.size() < run || text.size() < run) return false;
    const std::hash<std::string_view> hash;
    std::unordered_set<std::size_t> windows;
    for (std::size_t i = 0; i + run <= text.size(); ++i) windows.insert(hash(text.substr(i, run)));
    for (std::size_t i = 0; i + run <= allowed.size(); ++i) windows.erase(hash(allowed.substr(i, run)));
    for (std::size_t i = 0; i + run <= input.size(); ++i)
        if (windows.count(hash(input.substr(i, run))) != 0) return true;
    return false;
}

}  // namespace fuzz

// FUZZ_CHECK(condition, detail): detail is any string_view-convertible context for the report.
#define FUZZ_CHECK(condition, detail) \
    ((condition) ? static_cast<void>(0) : ::fuzz::fail(__FILE__, __LINE__, #condition, (detail)))
