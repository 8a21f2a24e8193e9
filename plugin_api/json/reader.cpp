#include "ep_json/reader.hpp"

#include <boost/json/parse.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

namespace ep::json_reader {
namespace {

namespace json = boost::json;

std::string number_text(double v) {
    std::ostringstream s;
    s << v;  // 0.0001, 60, 10000: as an operator would write them
    return s.str();
}

std::string size_text(std::size_t bytes) {
    if (bytes % (1024 * 1024) == 0) return std::to_string(bytes / (1024 * 1024)) + " MiB";
    if (bytes % 1024 == 0) return std::to_string(bytes / 1024) + " KiB";
    return std::to_string(bytes) + " bytes";
}

const char* kind_of(mode_t mode) {
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISSOCK(mode)) return "a socket";
    return "not a plain file";
}

// Closes the descriptor on every way out.
struct Fd {
    int fd;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

}  // namespace

FieldError::FieldError(std::string path, std::string problem)
    : std::runtime_error(path.empty() ? problem : path + " " + problem),
      path_(std::move(path)),
      problem_(std::move(problem)) {}

void fail(std::string path, std::string problem) { throw FieldError(std::move(path), std::move(problem)); }

std::string member_path(std::string_view parent, std::string_view key) {
    return parent.empty() ? std::string(key) : std::string(parent) + "." + std::string(key);
}

std::string element_path(std::string_view array, std::size_t index) {
    return std::string(array) + "[" + std::to_string(index) + "]";
}

json::value parse(std::string_view text) {
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    if (ec) fail("", "is not valid JSON: " + ec.message());
    return v;
}

std::string must_be_one_of(const std::vector<std::string_view>& names) {
    std::string text;
    if (names.size() <= 3) {
        for (std::size_t i = 0; i < names.size(); ++i)
            text += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + ("\"" + std::string(names[i]) + "\"");
        return "must be " + text;
    }
    for (std::string_view n : names) text += (text.empty() ? "" : ", ") + std::string(n);
    return "must be one of " + text;
}

// ---- Array ----------------------------------------------------------------------------------

Object Array::object(std::size_t i, std::string_view not_object) const {
    return Object((*array_)[i], path(i), null_, not_object);
}

Object Array::object(std::size_t i, std::initializer_list<std::string_view> known_keys,
                     std::string_view not_object) const {
    return Object((*array_)[i], path(i), known_keys, null_, not_object);
}

std::string Array::string(std::size_t i, std::string_view problem) const {
    const json::value& v = (*array_)[i];
    if (!v.is_string()) fail(path(i), std::string(problem));
    return std::string(v.as_string());
}

// ---- Object ---------------------------------------------------------------------------------

Object::Object(const json::value& v, std::string path, Null null, std::string_view not_object)
    : path_(std::move(path)), null_(null) {
    if (!v.is_object()) json_reader::fail(path_, std::string(not_object));
    object_ = &v.as_object();
}

Object::Object(const json::value& v, std::string path, std::initializer_list<std::string_view> known_keys, Null null,
               std::string_view not_object)
    : Object(v, std::move(path), null, not_object) {
    only(known_keys);
}

void Object::only(std::initializer_list<std::string_view> known_keys) const {
    for (const auto& kv : *object_) {
        bool known = false;
        for (std::string_view k : known_keys) known = known || kv.key() == k;
        if (known) continue;
        std::string list;
        for (std::string_view k : known_keys) list += (list.empty() ? "" : ", ") + std::string(k);
        fail(kv.key(), "is not a known setting (known: " + list + ")");
    }
}

void Object::fail(std::string_view key, std::string problem) const { json_reader::fail(path(key), std::move(problem)); }

const json::value* Object::find(std::string_view key) const {
    auto it = object_->find(key);
    if (it == object_->end() || (null_ == Null::is_absent && it->value().is_null())) return nullptr;
    return &it->value();
}

std::optional<std::string> Object::string(std::string_view key) const {
    const json::value* v = find(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_string()) fail(key, "must be a string");
    return std::string(v->as_string());
}

std::string Object::required_string(std::string_view key) const {
    if (!has(key)) fail(key, "is missing");
    return *string(key);
}

std::optional<std::string> Object::non_empty_string(std::string_view key) const {
    const json::value* v = find(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_string() || v->as_string().empty()) fail(key, "must be a non-empty string");
    return std::string(v->as_string());
}

std::string Object::required_non_empty_string(std::string_view key) const {
    if (!has(key)) fail(key, "is missing");
    return *non_empty_string(key);
}

std::optional<int64_t> Object::integer(std::string_view key, int64_t low, int64_t high) const {
    const json::value* v = find(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_int64() || v->as_int64() < low || v->as_int64() > high)
        fail(key, "must be an integer from " + std::to_string(low) + " to " + std::to_string(high));
    return v->as_int64();
}

std::optional<double> Object::number(std::string_view key, double low, double high) const {
    const json::value* v = find(key);
    if (v == nullptr) return std::nullopt;
    const double d = v->is_number() ? v->to_number<double>() : low - 1;
    if (!(d >= low && d <= high)) fail(key, "must be a number from " + number_text(low) + " to " + number_text(high));
    return d;
}

std::optional<bool> Object::boolean(std::string_view key) const {
    const json::value* v = find(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_bool()) fail(key, "must be true or false");
    return v->as_bool();
}

std::optional<Object> Object::object(std::string_view key, std::string_view not_object) const {
    const json::value* v = find(key);
    if (v == nullptr) return std::nullopt;
    return Object(*v, path(key), null_, not_object);
}

std::optional<Object> Object::object(std::string_view key, std::initializer_list<std::string_view> known_keys,
                                     std::string_view not_object) const {
    const json::value* v = find(key);
    if (v == nullptr) return std::nullopt;
    return Object(*v, path(key), known_keys, null_, not_object);
}

std::optional<Array> Object::array(std::string_view key, std::string_view not_array) const {
    const json::value* v = find(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_array()) fail(key, std::string(not_array));
    return Array(v->as_array(), path(key), null_);
}

Object Object::required_object(std::string_view key, std::string_view not_object) const {
    if (!has(key)) fail(key, "is missing");
    return *object(key, not_object);
}

Array Object::required_array(std::string_view key, std::string_view not_array) const {
    if (!has(key)) fail(key, "is missing");
    return *array(key, not_array);
}

// ---- Files ----------------------------------------------------------------------------------

std::string read_regular_file(const std::filesystem::path& file, std::size_t max_bytes) {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
    Fd fd{::open(file.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)};
    if (fd.fd < 0) throw FileError("cannot be opened: " + std::string(std::strerror(errno)));
    struct stat st {};
    if (::fstat(fd.fd, &st) != 0) throw FileError("cannot be opened: " + std::string(std::strerror(errno)));
    if (!S_ISREG(st.st_mode)) throw FileError(std::string("is not a regular file (it is ") + kind_of(st.st_mode) + ")");
    const std::string too_large = "is larger than " + size_text(max_bytes);
    if (static_cast<std::size_t>(st.st_size) > max_bytes) throw FileError(too_large);
    // Read to the end rather than trust st_size: the file may grow while it is read.
    std::string text(max_bytes + 1, '\0');
    std::size_t done = 0;
    while (done < text.size()) {
        ssize_t n = ::read(fd.fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw FileError("cannot be read: " + std::string(std::strerror(errno)));
        if (n == 0) break;
        done += static_cast<std::size_t>(n);
    }
    if (done > max_bytes) throw FileError(too_large);
    text.resize(done);
    return text;
}

}  // namespace ep::json_reader
