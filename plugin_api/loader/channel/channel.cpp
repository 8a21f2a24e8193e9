#include "channel.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace ep::loader::channel {

namespace json = boost::json;

void LineReader::feed(std::string_view bytes) {
    // The channel is broken at that line: nothing after it will be read, so nothing is kept.
    if (tail_too_long_) return;
    if (consumed_ == buffer_.size()) compact();
    const std::size_t old_size = buffer_.size();
    buffer_.append(bytes);
    // Only the new bytes can hold a later newline.
    const std::size_t last = std::string_view(buffer_).substr(old_size).rfind('\n');
    if (last != std::string_view::npos) tail_start_ = old_size + last + 1;
    // Not thrown here: the whole messages before it (a send's outcome, say) are still delivered.
    if (buffer_.size() - tail_start_ > max_line_bytes_) tail_too_long_ = true;
}

void LineReader::compact() {
    buffer_.erase(0, consumed_);
    tail_start_ -= consumed_;
    consumed_ = 0;
}

std::optional<json::object> LineReader::next() {
    for (;;) {
        const std::size_t end = consumed_ < tail_start_ ? buffer_.find('\n', consumed_) : std::string::npos;
        if (end == std::string::npos) {
            if (tail_too_long_)
                throw ProtocolError("a message is longer than " + std::to_string(max_line_bytes_) + " bytes");
            // Keep the unfinished line at the front, so that the buffer does not grow without end.
            if (consumed_ > 0) compact();
            return std::nullopt;
        }
        std::string_view line(buffer_.data() + consumed_, end - consumed_);
        consumed_ = end + 1;
        if (line.empty()) continue;
        if (line.size() > max_line_bytes_)
            throw ProtocolError("a message is longer than " + std::to_string(max_line_bytes_) + " bytes");
        boost::system::error_code ec;
        json::value v = json::parse(line, ec);
        if (ec || !v.is_object()) throw ProtocolError("a line is not a JSON object");
        json::object& o = v.as_object();
        const json::value* version = o.if_contains("jsonrpc");
        if (version == nullptr || !version->is_string() || version->as_string() != "2.0")
            throw ProtocolError("a message is not JSON-RPC 2.0 (\"jsonrpc\" must be \"2.0\")");
        return std::move(o);
    }
}

std::string frame(const json::object& message) {
    std::string line = json::serialize(message);
    line.push_back('\n');
    return line;
}

json::object request(uint64_t id, std::string_view method, json::object params) {
    return json::object{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", std::move(params)}};
}

json::object notification(std::string_view method, json::object params) {
    return json::object{{"jsonrpc", "2.0"}, {"method", method}, {"params", std::move(params)}};
}

json::object response(uint64_t id, json::value result) {
    return json::object{{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}};
}

json::object error_response(uint64_t id, int64_t code, std::string_view message, json::value data) {
    json::object error{{"code", code}, {"message", message}};
    if (!data.is_null()) error["data"] = std::move(data);
    return json::object{{"jsonrpc", "2.0"}, {"id", id}, {"error", std::move(error)}};
}

std::optional<uint64_t> id_of(const json::object& message) {
    const json::value* id = message.if_contains("id");
    if (id == nullptr) return std::nullopt;
    if (id->is_uint64()) return id->as_uint64();
    if (id->is_int64() && id->as_int64() >= 0) return static_cast<uint64_t>(id->as_int64());
    throw ProtocolError("a message's \"id\" is not a non-negative integer");
}

std::optional<std::string_view> method_of(const json::object& message) {
    const json::value* method = message.if_contains("method");
    if (method == nullptr) return std::nullopt;
    if (!method->is_string()) throw ProtocolError("a message's \"method\" is not a string");
    return std::string_view(method->as_string());
}

const json::object& params_of(const json::object& message) {
    static const json::object none;
    const json::value* params = message.if_contains("params");
    if (params == nullptr) return none;
    if (!params->is_object()) throw ProtocolError("a message's \"params\" is not an object");
    return params->as_object();
}

std::string_view string_member(const json::object& o, std::string_view key) {
    const json::value* v = o.if_contains(key);
    if (v == nullptr || !v->is_string()) throw ProtocolError("\"" + std::string(key) + "\" is not a string");
    return v->as_string();
}

int64_t integer_member(const json::object& o, std::string_view key) {
    const json::value* v = o.if_contains(key);
    if (v != nullptr && v->is_int64()) return v->as_int64();
    if (v != nullptr && v->is_uint64() && v->as_uint64() <= uint64_t(INT64_MAX)) return int64_t(v->as_uint64());
    throw ProtocolError("\"" + std::string(key) + "\" is not an integer");
}

bool LineWriter::write(const json::object& message) {
    const std::string line = frame(message);
    std::lock_guard lock(mutex_);
    std::size_t done = 0;
    while (!broken_ && done < line.size()) {
        // MSG_NOSIGNAL: a peer that is gone is an answer (false), not a SIGPIPE.
        ssize_t n = ::send(fd_, line.data() + done, line.size() - done, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0)
            broken_ = true;
        else
            done += static_cast<std::size_t>(n);
    }
    return !broken_;
}

std::string read_some(int fd) {
    char buffer[64 * 1024];
    for (;;) {
        ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        return n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : std::string();
    }
}

}  // namespace ep::loader::channel
