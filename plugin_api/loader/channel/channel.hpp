// The runner channel's framing (ISOLATION.md): JSON-RPC 2.0 messages, one per line (JSON
// Lines), over a Unix stream socket. Shared by the host side (start_isolated) and the runner;
// not installed.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace ep::loader::channel {

// A line longer than this ends the channel: no document the ABI passes comes near it (a send is
// refused past 35 MB of attachments).
inline constexpr std::size_t kMaxLineBytes = std::size_t{64} << 20;

// The peer broke the framing (an overlong line, a line that is not a JSON object, a message
// that is not JSON-RPC 2.0). The reader closes the channel.
class ProtocolError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Cuts the bytes read from the channel into messages.
class LineReader {
public:
    explicit LineReader(std::size_t max_line_bytes = kMaxLineBytes) : max_line_bytes_(max_line_bytes) {}

    // Appends what was read (nothing more once an unfinished line is too long).
    void feed(std::string_view bytes);
    // The next whole message; nullopt when no whole line is buffered. Throws ProtocolError when
    // the line is not a JSON-RPC 2.0 object (empty lines are skipped), or when every message
    // before an unfinished line that is already too long has been returned.
    std::optional<boost::json::object> next();

private:
    void compact();

    std::string buffer_;
    std::size_t consumed_ = 0;    // bytes of buffer_ already returned as messages
    std::size_t tail_start_ = 0;  // where the unfinished line (after the last newline) starts
    std::size_t max_line_bytes_;
    bool tail_too_long_ = false;
};

// One message as a line.
std::string frame(const boost::json::object& message);

// JSON-RPC 2.0 shapes.
boost::json::object request(uint64_t id, std::string_view method, boost::json::object params);
boost::json::object notification(std::string_view method, boost::json::object params);
boost::json::object response(uint64_t id, boost::json::value result);
boost::json::object error_response(uint64_t id, int64_t code, std::string_view message,
                                   boost::json::value data = nullptr);

// The parts of a message; ProtocolError naming the member when one has the wrong type.
std::optional<uint64_t> id_of(const boost::json::object& message);              // absent: notification
std::optional<std::string_view> method_of(const boost::json::object& message);  // absent: response
const boost::json::object& params_of(const boost::json::object& message);       // {} when absent
std::string_view string_member(const boost::json::object& o, std::string_view key);
int64_t integer_member(const boost::json::object& o, std::string_view key);

// Writes whole lines to a socket; one writer at a time, from any thread.
class LineWriter {
public:
    explicit LineWriter(int fd) : fd_(fd) {}
    // False when the peer is gone (the channel is then closed for writing).
    bool write(const boost::json::object& message);

private:
    std::mutex mutex_;
    int fd_;
    bool broken_ = false;
};

// Reads what the socket has (blocking); empty at end of stream or on error.
std::string read_some(int fd);

}  // namespace ep::loader::channel
