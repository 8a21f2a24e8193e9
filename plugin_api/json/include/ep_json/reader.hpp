// One reader for the JSON documents and configuration files of the project (the host config,
// manifests, the message model, the plugins' configs). Boost.JSON parses; this names what is
// wrong by its path in the document ("providers[1].config.outbox_dir must be a string"), reads
// typed fields, refuses unknown keys in one way, and reads files that may only be regular
// files of a sane size.
//
// Not Boost.JSON's value_to with Boost.Describe: in 1.81 its errors name no field (an unknown
// or a missing key both read "array size does not match target size"), it has no optional
// fields, defaults or ranges, and its messages carry a Boost header's source location.
//
// Each user turns a FieldError into its own error type once, at its parse function.
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace ep::json_reader {

// A value that is wrong, named by its path ("store.path", "to[1].address"); an empty path
// means the whole document. what() is "<path> <problem>".
class FieldError : public std::runtime_error {
public:
    FieldError(std::string path, std::string problem);
    const std::string& path() const { return path_; }
    const std::string& problem() const { return problem_; }

private:
    std::string path_;
    std::string problem_;
};

[[noreturn]] void fail(std::string path, std::string problem);

std::string member_path(std::string_view parent, std::string_view key);  // "a.b", or "b" at the top
std::string element_path(std::string_view array, std::size_t index);     // "a[3]"

// Parses a whole document: FieldError("", "is not valid JSON: ...") when it is not JSON.
boost::json::value parse(std::string_view text);

// How a JSON null reads: as a value of the wrong type (configs), or as an absent field
// (documents whose schema allows "key": null for "not given").
enum class Null { is_wrong_type, is_absent };

// One choice of an enum-like string field.
template <class T>
struct Choice {
    std::string_view name;
    T value;
};

// "must be \"a\", \"b\" or \"c\"" for a few choices, "must be one of a, b, c, d" for more.
std::string must_be_one_of(const std::vector<std::string_view>& names);

class Object;

// An array field: elements by index, each named by its path.
class Array {
public:
    Array(const boost::json::array& a, std::string path, Null null) : array_(&a), path_(std::move(path)), null_(null) {}
    std::size_t size() const { return array_->size(); }
    const boost::json::value& operator[](std::size_t i) const { return (*array_)[i]; }
    std::string path(std::size_t i) const { return element_path(path_, i); }
    // Element i as an object (with the Object constructor's key rule and message).
    Object object(std::size_t i, std::string_view not_object = "must be an object") const;
    Object object(std::size_t i, std::initializer_list<std::string_view> known_keys,
                  std::string_view not_object = "must be an object") const;
    std::string string(std::size_t i, std::string_view problem = "must be a string") const;

private:
    const boost::json::array* array_;
    std::string path_;
    Null null_;
};

// An object field. Constructed with a list of known keys it refuses any other key at once,
// always with "<path>.<key> is not a known setting (known: ...)"; without one it ignores
// keys it is not asked about (documents whose newer versions may add fields).
class Object {
public:
    Object(const boost::json::value& v, std::string path, Null null = Null::is_wrong_type,
           std::string_view not_object = "must be an object");
    Object(const boost::json::value& v, std::string path, std::initializer_list<std::string_view> known_keys,
           Null null = Null::is_wrong_type, std::string_view not_object = "must be an object");

    const std::string& path() const { return path_; }
    std::string path(std::string_view key) const { return member_path(path_, key); }
    [[noreturn]] void fail(std::string_view key, std::string problem) const;
    const boost::json::object& json() const { return *object_; }
    // Refuses any key not in the list: "<path>.<key> is not a known setting (known: ...)".
    void only(std::initializer_list<std::string_view> known_keys) const;

    // The field's value, or nullptr when absent (or null, when null reads as absent).
    const boost::json::value* find(std::string_view key) const;
    bool has(std::string_view key) const { return find(key) != nullptr; }

    std::optional<std::string> string(std::string_view key) const;            // "must be a string"
    std::string required_string(std::string_view key) const;                  // + "is missing"
    std::optional<std::string> non_empty_string(std::string_view key) const;  // "must be a non-empty string"
    std::string required_non_empty_string(std::string_view key) const;        // + "is missing"
    std::optional<int64_t> integer(std::string_view key, int64_t low, int64_t high) const;
    std::optional<double> number(std::string_view key, double low, double high) const;
    std::optional<bool> boolean(std::string_view key) const;  // "must be true or false"
    std::optional<Object> object(std::string_view key, std::string_view not_object = "must be an object") const;
    std::optional<Object> object(std::string_view key, std::initializer_list<std::string_view> known_keys,
                                 std::string_view not_object = "must be an object") const;
    std::optional<Array> array(std::string_view key, std::string_view not_array = "must be an array") const;
    // The same, "is missing" when absent.
    Object required_object(std::string_view key, std::string_view not_object = "must be an object") const;
    Array required_array(std::string_view key, std::string_view not_array = "must be an array") const;

    // An enum-like string: one of `choices`, else "must be one of ..." (must_be_one_of).
    template <class T>
    std::optional<T> one_of(std::string_view key, std::initializer_list<Choice<T>> choices) const {
        std::optional<std::string> s = string(key);
        if (!s) return std::nullopt;
        std::vector<std::string_view> names;
        for (const Choice<T>& c : choices) {
            if (c.name == *s) return c.value;
            names.push_back(c.name);
        }
        fail(key, must_be_one_of(names));
    }

private:
    const boost::json::object* object_ = nullptr;
    std::string path_;
    Null null_;
};

// ---- Files ----------------------------------------------------------------------------------

inline constexpr std::size_t kMaxConfigFileBytes = 1024 * 1024;

// A file that cannot be read as a configuration file; what() says why, without the file's
// name (the caller names it in its own words).
class FileError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// The whole content of a regular file of at most `max_bytes`. Anything else is refused at
// once: a FIFO would block the reader until someone writes to it, a device such as /dev/zero
// would never end, a directory has no content.
std::string read_regular_file(const std::filesystem::path& file, std::size_t max_bytes = kMaxConfigFileBytes);

}  // namespace ep::json_reader
