// The one JSON reader of configs and documents: errors name the field by its path, unknown
// keys are refused in one shape, and files are read only when they are regular and small.
#include "process.hpp"

#include <ep_json/reader.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <chrono>
#include <fstream>

namespace reader = ep::json_reader;
using test_support::TempDir;
using ::testing::AllOf;
using ::testing::HasSubstr;

namespace {

// The error a read throws, as "<path>|<problem>", or "(accepted)".
template <class Read>
std::string error_of(const std::string& text, Read read) {
    try {
        const boost::json::value root = reader::parse(text);
        read(reader::Object(root, ""));
    } catch (const reader::FieldError& e) {
        return e.path() + "|" + e.problem();
    }
    return "(accepted)";
}

std::string file_error_of(const std::filesystem::path& file, std::size_t max_bytes = reader::kMaxConfigFileBytes) {
    try {
        reader::read_regular_file(file, max_bytes);
    } catch (const reader::FileError& e) {
        return e.what();
    }
    return "(accepted)";
}

}  // namespace

TEST(JsonReader, ErrorsNameTheFieldByItsPathInTheDocument) {
    const auto outbox_dir = [](const reader::Object& o) {
        const reader::Array providers = o.required_array("providers");
        for (std::size_t i = 0; i < providers.size(); ++i)
            providers.object(i).required_object("config").string("outbox_dir");
    };
    EXPECT_EQ(error_of(R"({"providers":[{"config":{}},{"config":{"outbox_dir":7}}]})", outbox_dir),
              "providers[1].config.outbox_dir|must be a string");
    EXPECT_EQ(error_of(R"({"providers":[{}]})", outbox_dir), "providers[0].config|is missing");
    EXPECT_EQ(error_of(R"({"providers":[3]})", outbox_dir), "providers[0]|must be an object");
    EXPECT_THAT(error_of("{", outbox_dir), ::testing::StartsWith("|is not valid JSON: "));
    try {
        reader::fail("providers[1].config.outbox_dir", "must be a string");
    } catch (const reader::FieldError& e) {
        EXPECT_STREQ(e.what(), "providers[1].config.outbox_dir must be a string");
    }
}

TEST(JsonReader, TypedFieldsCheckTypeAndRange) {
    EXPECT_EQ(error_of(R"({"n":70000})", [](const reader::Object& o) { o.integer("n", 0, 65535); }),
              "n|must be an integer from 0 to 65535");
    EXPECT_EQ(error_of(R"({"n":1.5})", [](const reader::Object& o) { o.integer("n", 0, 9); }),
              "n|must be an integer from 0 to 9");
    EXPECT_EQ(error_of(R"({"n":"1"})", [](const reader::Object& o) { o.number("n", 0.0001, 60); }),
              "n|must be a number from 0.0001 to 60");
    EXPECT_EQ(error_of(R"({"b":"yes"})", [](const reader::Object& o) { o.boolean("b"); }), "b|must be true or false");
    EXPECT_EQ(error_of(R"({"s":""})", [](const reader::Object& o) { o.non_empty_string("s"); }),
              "s|must be a non-empty string");
    EXPECT_EQ(error_of(R"({"a":{}})", [](const reader::Object& o) { o.array("a"); }), "a|must be an array");
    EXPECT_EQ(error_of(R"({})", [](const reader::Object& o) { o.required_string("s"); }), "s|is missing");
    EXPECT_EQ(error_of(R"({"s":null})", [](const reader::Object& o) { o.string("s"); }), "s|must be a string");
    const boost::json::value doc = reader::parse(R"({"s":null,"n":42,"b":false})");
    const reader::Object o(doc, "", reader::Null::is_absent);
    EXPECT_FALSE(o.string("s").has_value()) << "null reads as absent when the document says so";
    EXPECT_EQ(o.integer("n", 0, 100), 42);
    EXPECT_EQ(o.boolean("b"), false);
    EXPECT_FALSE(o.string("absent").has_value());
}

TEST(JsonReader, EnumLikeStringsListTheirChoices) {
    enum class Engine { sqlite, postgresql };
    const auto engine = [](const reader::Object& o) {
        o.one_of<Engine>("engine", {{"sqlite", Engine::sqlite}, {"postgresql", Engine::postgresql}});
    };
    EXPECT_EQ(error_of(R"({"engine":"mysql"})", engine), "engine|must be \"sqlite\" or \"postgresql\"");
    EXPECT_EQ(error_of(R"({"engine":"sqlite"})", engine), "(accepted)");
    EXPECT_EQ(reader::must_be_one_of({"a", "b", "c"}), "must be \"a\", \"b\" or \"c\"");
    EXPECT_EQ(reader::must_be_one_of({"trace", "debug", "info", "warn", "error"}),
              "must be one of trace, debug, info, warn, error");
}

TEST(JsonReader, UnknownKeysAreRefusedInOneShapeNamingTheKeyAndItsPath) {
    const auto users = [](const reader::Object& o) {
        const reader::Array a = *o.array("users");
        for (std::size_t i = 0; i < a.size(); ++i) a.object(i, {"id", "display_name"});
    };
    EXPECT_EQ(error_of(R"({"users":[{"id":"a"},{"id":"b","nick":"x"}]})", users),
              "users[1].nick|is not a known setting (known: id, display_name)");
    EXPECT_EQ(error_of(R"({"web":{"prot":1}})", [](const reader::Object& o) { o.object("web", {"port"}); }),
              "web.prot|is not a known setting (known: port)");
    EXPECT_EQ(error_of(R"({"extra":1})",
                       [](const reader::Object& o) {
                           o.only({"store", "web"});
                       }),
              "extra|is not a known setting (known: store, web)");
    EXPECT_EQ(error_of(R"({"newer_field":1})", [](const reader::Object&) {}), "(accepted)")
        << "without a list of keys, unknown keys are left alone";
}

TEST(JsonReader, FilesMustBeRegularAndSmallAndAreRefusedAtOnce) {
    TempDir dir;
    dir.write("ok.json", "{}");
    EXPECT_EQ(reader::read_regular_file(dir / "ok.json"), "{}");
    ASSERT_EQ(::mkfifo((dir / "fifo.json").c_str(), 0600), 0);
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(file_error_of(dir / "fifo.json"), "is not a regular file (it is a FIFO)");
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2)) << "waited for a writer";
    EXPECT_EQ(file_error_of("/dev/zero"), "is not a regular file (it is a character device)");
    EXPECT_EQ(file_error_of(dir.path()), "is not a regular file (it is a directory)");
    EXPECT_THAT(file_error_of(dir / "absent.json"), HasSubstr("cannot be opened: No such file"));
    dir.write("big.json", std::string(reader::kMaxConfigFileBytes + 1, ' '));
    EXPECT_EQ(file_error_of(dir / "big.json"), "is larger than 1 MiB");
    dir.write("manifest.json", std::string(64 * 1024 + 1, ' '));
    EXPECT_EQ(file_error_of(dir / "manifest.json", 64 * 1024), "is larger than 64 KiB");
}
