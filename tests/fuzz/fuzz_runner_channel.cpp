// fuzz_runner_channel: the runner channel's framing (ISOLATION.md), as both ends read it.
//
// The host reads what a runner writes, and a runner is the process a faulty (or hostile)
// provider runs in; the runner reads what the host writes. Both cut the stream with
// LineReader and read members with the same accessors, so one harness covers both ends. The
// input is the stream; byte 0 picks how it arrives (the size of each read), byte 1 the line
// limit, so that the overlong-line path is reached at fuzzing sizes.
//
// Properties: only ProtocolError escapes; however the stream is cut into reads, the reader
// yields exactly the messages a line-by-line reading of the whole stream yields, and fails
// exactly where that reading fails; every message yielded is a JSON-RPC 2.0 object whose
// accessors throw nothing but ProtocolError; a yielded message framed again reads back equal (when it holds no double:
// see has_double).
#include "fuzz_support.hpp"

#include "channel/channel.hpp"

#include <boost/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace {

namespace channel = ep::loader::channel;
namespace json = boost::json;

struct Reading {
    std::vector<json::object> messages;
    bool failed = false;
};

// The reference: split the whole stream at newlines and read each line on its own.
Reading read_line_by_line(std::string_view stream, std::size_t max_line) {
    Reading r;
    for (;;) {
        const std::size_t end = stream.find('\n');
        if (end == std::string_view::npos) {
            r.failed = stream.size() > max_line;
            return r;
        }
        const std::string_view line = stream.substr(0, end);
        stream.remove_prefix(end + 1);
        if (line.empty()) continue;
        boost::system::error_code ec;
        json::value v = line.size() > max_line ? json::value() : json::parse(line, ec);
        const json::value* version = v.is_object() ? v.as_object().if_contains("jsonrpc") : nullptr;
        if (ec || version == nullptr || !version->is_string() || version->as_string() != "2.0") {
            r.failed = true;
            return r;
        }
        r.messages.push_back(std::move(v.as_object()));
    }
}

Reading read_in_chunks(std::string_view stream, std::size_t chunk, std::size_t max_line) {
    Reading r;
    channel::LineReader reader(max_line);
    try {
        while (!stream.empty()) {
            reader.feed(stream.substr(0, chunk));
            stream.remove_prefix(std::min(chunk, stream.size()));
            while (auto m = reader.next()) r.messages.push_back(std::move(*m));
        }
    } catch (const channel::ProtocolError&) {
        r.failed = true;
    }
    return r;
}

// Boost.JSON 1.81 does not read back every double it writes bit for bit; the channel carries
// integers and strings only, so the round trip is asserted for messages without doubles.
bool has_double(const json::value& v) {
    if (v.is_double()) return true;
    if (v.is_array())
        for (const auto& e : v.as_array())
            if (has_double(e)) return true;
    if (v.is_object())
        for (const auto& kv : v.as_object())
            if (has_double(kv.value())) return true;
    return false;
}

// What each end does with a message before acting on it.
void read_members(const json::object& m) {
    try {
        const auto id = channel::id_of(m);
        const auto method = channel::method_of(m);
        const json::object& params = channel::params_of(m);
        FUZZ_CHECK(id || method || !m.contains("id"), json::serialize(m));
        for (std::string_view key : {"account", "document", "key", "value", "message"})
            if (params.contains(key)) (void)channel::string_member(params, key);
        for (std::string_view key : {"status", "level", "expected_version", "id"})
            if (params.contains(key)) (void)channel::integer_member(params, key);
    } catch (const channel::ProtocolError&) {}
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    if (size < 2) return 0;
    const std::size_t chunk = 1 + data[0] % 64;
    const std::size_t max_line = 16 + std::size_t{data[1]} * 4;
    const std::string_view stream = fuzz::as_text(data + 2, size - 2);

    const Reading expected = read_line_by_line(stream, max_line);
    const Reading got = read_in_chunks(stream, chunk, max_line);
    FUZZ_CHECK(got.failed == expected.failed, stream);
    FUZZ_CHECK(got.messages.size() == expected.messages.size(), stream);
    for (std::size_t i = 0; i < got.messages.size(); ++i) {
        FUZZ_CHECK(got.messages[i] == expected.messages[i], json::serialize(got.messages[i]));
        read_members(got.messages[i]);
        // What one end writes, the other reads back unchanged.
        if (has_double(got.messages[i])) continue;
        channel::LineReader again;
        again.feed(channel::frame(got.messages[i]));
        const auto back = again.next();
        FUZZ_CHECK(back && *back == got.messages[i], json::serialize(got.messages[i]));
    }
    return 0;
}
