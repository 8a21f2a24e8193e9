// Unit tests of the token vault (envelopes, key ring), SecretString and log redaction.
#include <ep_kit/redact.hpp>
#include <ep_kit/secret_string.hpp>
#include <ep_kit/vault.hpp>

#include <email_provider/ep_sdk.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <boost/json.hpp>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <random>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

namespace {

using ep::kit::KeyRing;
using ep::kit::SecretString;
using ep::kit::Vault;
using ep::kit::VaultContext;
using ep::kit::VaultError;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

const VaultContext kGrant{"outlook", "account-42", "grant"};

KeyRing::Key key_with_seed(uint8_t seed) {
    KeyRing::Key key{};
    for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(seed * 31 + i * 7 + 1);
    return key;
}

std::string hex_of(const KeyRing::Key& key) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string text;
    for (uint8_t byte : key) {
        text += kDigits[byte >> 4];
        text += kDigits[byte & 0x0F];
    }
    return text;
}

std::string base64_of(const KeyRing::Key& key) {
    unsigned char text[45] = {};
    const int length = EVP_EncodeBlock(text, key.data(), static_cast<int>(key.size()));
    return std::string(reinterpret_cast<const char*>(text), static_cast<std::size_t>(length));
}

std::string raw_of(const KeyRing::Key& key) { return std::string(key.begin(), key.end()); }

// Fails when `message` holds the key in any of the forms it could leak in.
void expect_no_key_material(const std::string& message, const KeyRing::Key& key) {
    EXPECT_THAT(message, Not(HasSubstr(hex_of(key))));
    EXPECT_THAT(message, Not(HasSubstr(hex_of(key).substr(0, 16))));
    EXPECT_THAT(message, Not(HasSubstr(base64_of(key).substr(0, 16))));
    EXPECT_THAT(message, Not(HasSubstr(raw_of(key).substr(0, 8))));
}

KeyRing ring_of(std::initializer_list<std::pair<const char*, uint8_t>> keys, const std::string& active) {
    KeyRing ring;
    for (const auto& [id, seed] : keys) ring.add(id, key_with_seed(seed));
    ring.set_active(active);
    return ring;
}

std::span<const uint8_t> bytes(const std::vector<uint8_t>& v) { return {v.data(), v.size()}; }

// Opens and returns the error, failing the test when the envelope opens.
VaultError open_error(const Vault& vault, const std::vector<uint8_t>& envelope, const VaultContext& context) {
    try {
        const SecretString opened = vault.open(bytes(envelope), context);
        ADD_FAILURE() << "envelope opened (" << opened.size() << " bytes)";
    } catch (const VaultError& e) {
        return e;
    }
    return VaultError(VaultError::Kind::malformed, "(no error)");
}

// ---- SecretString -------------------------------------------------------------------------

TEST(SecretString, HoldsItsContent) {
    const SecretString empty;
    EXPECT_TRUE(empty.empty());
    EXPECT_EQ(empty.size(), 0u);

    const SecretString secret(std::string_view("refresh-token-value"));
    EXPECT_FALSE(secret.empty());
    EXPECT_EQ(secret.size(), 19u);
    EXPECT_EQ(secret.view(), "refresh-token-value");
}

TEST(SecretString, ComparesByContent) {
    EXPECT_TRUE(SecretString("abcdef") == SecretString("abcdef"));
    EXPECT_FALSE(SecretString("abcdef") == SecretString("abcdeg"));
    EXPECT_FALSE(SecretString("abcdef") == SecretString("abcde"));
    EXPECT_TRUE(SecretString() == SecretString(""));
}

TEST(SecretString, MovedFromHoldsNothing) {
    // Short contents would sit in a std::string's inline buffer; both sizes must move out.
    for (const std::string& text : {std::string("short"), std::string(200, 'x')}) {
        SecretString source(text);
        SecretString moved(std::move(source));
        EXPECT_TRUE(source.empty());  // NOLINT(bugprone-use-after-move): that is the point
        EXPECT_EQ(source.view(), "");
        EXPECT_EQ(moved.view(), text);

        SecretString assigned("previous content");
        assigned = std::move(moved);
        EXPECT_TRUE(moved.empty());  // NOLINT(bugprone-use-after-move)
        EXPECT_EQ(assigned.view(), text);
    }
}

TEST(SecretString, ClearEmpties) {
    SecretString secret("client-secret-value");
    secret.clear();
    EXPECT_TRUE(secret.empty());
    EXPECT_EQ(secret.view(), "");
}

// Reads every byte of the string's buffer, up to its capacity (the buffer stays allocated).
bool buffer_is_zero(const char* buffer, std::size_t capacity) {
    for (std::size_t i = 0; i < capacity; ++i)
        if (buffer[i] != '\0') return false;
    return true;
}

TEST(SecretString, TakingAStringWipesTheSourceBuffer) {
    for (const std::size_t length : {std::size_t{7}, std::size_t{300}}) {
        std::string source(length, 's');
        const char* buffer = source.data();
        const std::size_t capacity = source.capacity();
        const SecretString secret(std::move(source));
        EXPECT_EQ(secret.view(), std::string(length, 's'));
        EXPECT_TRUE(source.empty());  // NOLINT(bugprone-use-after-move)
        EXPECT_EQ(source.data(), buffer);
        EXPECT_TRUE(buffer_is_zero(buffer, capacity)) << "length " << length;
    }
}

TEST(SecretString, WipeCleansesTheWholeCapacity) {
    std::string text(100, 'k');
    text.resize(10);  // the 90 bytes past the size still hold 'k'
    const char* buffer = text.data();
    const std::size_t capacity = text.capacity();
    ep::kit::wipe(text);
    EXPECT_TRUE(text.empty());
    EXPECT_TRUE(buffer_is_zero(buffer, capacity));
}

template <class T>
concept Streamable = requires(std::ostream& out, const T& value) {
    out << value;
};

TEST(SecretString, CannotBeCopiedConvertedOrStreamed) {
    static_assert(!std::is_copy_constructible_v<SecretString>);
    static_assert(!std::is_copy_assignable_v<SecretString>);
    static_assert(std::is_nothrow_move_constructible_v<SecretString>);
    static_assert(!std::is_convertible_v<std::string, SecretString>);
    static_assert(!std::is_convertible_v<std::string_view, SecretString>);
    static_assert(!std::is_convertible_v<SecretString, std::string_view>);
    static_assert(!std::is_convertible_v<SecretString, std::string>);
    static_assert(!Streamable<SecretString>);
    static_assert(Streamable<std::string>);  // the concept itself works
    SUCCEED();
}

// ---- Vault --------------------------------------------------------------------------------

TEST(Vault, RoundTripsAnyPlaintext) {
    const Vault vault(ring_of({{"k1", 1}}, "k1"));
    for (const std::string& plaintext : {std::string(), std::string("x"), std::string("0.AXoA-refresh-token"),
                                         std::string(10'000, 'r'), std::string("\0binary\xff", 8)}) {
        const std::vector<uint8_t> envelope = vault.seal(plaintext, kGrant);
        EXPECT_EQ(vault.open(bytes(envelope), kGrant).view(), plaintext);
    }
}

TEST(Vault, EnvelopeLayoutIsAsDocumented) {
    const Vault vault(ring_of({{"key-2024.a", 1}}, "key-2024.a"));
    const std::string plaintext = "token";
    const std::vector<uint8_t> envelope = vault.seal(plaintext, kGrant);
    const std::string id = "key-2024.a";
    ASSERT_EQ(envelope.size(), 4 + 1 + id.size() + 12 + plaintext.size() + 16);
    EXPECT_EQ(std::string(envelope.begin(), envelope.begin() + 4), "EPV1");
    EXPECT_EQ(envelope[4], id.size());
    EXPECT_EQ(std::string(envelope.begin() + 5, envelope.begin() + 5 + static_cast<long>(id.size())), id);
    EXPECT_EQ(Vault::key_id_of(bytes(envelope)), id);
    // The ciphertext is not the plaintext.
    const std::string body(envelope.begin() + 5 + static_cast<long>(id.size()) + 12, envelope.end() - 16);
    EXPECT_NE(body, plaintext);
}

TEST(Vault, EverySealUsesAFreshNonce) {
    const Vault vault(ring_of({{"k1", 1}}, "k1"));
    const std::vector<uint8_t> first = vault.seal("same plaintext", kGrant);
    const std::vector<uint8_t> second = vault.seal("same plaintext", kGrant);
    EXPECT_NE(first, second);
    const std::size_t nonce = 4 + 1 + 2;
    EXPECT_NE(std::vector<uint8_t>(first.begin() + nonce, first.begin() + nonce + 12),
              std::vector<uint8_t>(second.begin() + nonce, second.begin() + nonce + 12));
}

TEST(Vault, EnvelopeIsBoundToProviderAccountAndSlot) {
    const Vault vault(ring_of({{"k1", 1}}, "k1"));
    const std::vector<uint8_t> envelope = vault.seal("refresh-token", kGrant);
    for (const VaultContext& other :
         {VaultContext{"outlook", "account-43", "grant"}, VaultContext{"outlook", "account-42", "pending"},
          VaultContext{"mock", "account-42", "grant"}, VaultContext{"outlook", "account-42", ""}}) {
        const VaultError error = open_error(vault, envelope, other);
        EXPECT_EQ(error.kind(), VaultError::Kind::tampered)
            << other.provider << "/" << other.account << "/" << other.slot;
        EXPECT_THAT(error.what(), HasSubstr("\"k1\""));
    }
}

TEST(Vault, ContextFieldsCannotBeShiftedIntoEachOther) {
    const Vault vault(ring_of({{"k1", 1}}, "k1"));
    const std::vector<uint8_t> envelope = vault.seal("secret", VaultContext{"ab", "c", "grant"});
    EXPECT_EQ(open_error(vault, envelope, VaultContext{"a", "bc", "grant"}).kind(), VaultError::Kind::tampered);
    EXPECT_EQ(open_error(vault, envelope, VaultContext{"ab", "cg", "rant"}).kind(), VaultError::Kind::tampered);
}

TEST(Vault, EverySingleByteChangeIsRefused) {
    const Vault vault(ring_of({{"k1", 1}}, "k1"));
    const std::vector<uint8_t> envelope = vault.seal("a refresh token", kGrant);
    for (std::size_t i = 0; i < envelope.size(); ++i) {
        for (const uint8_t mask : {uint8_t{0x01}, uint8_t{0x80}, uint8_t{0xFF}}) {
            std::vector<uint8_t> changed = envelope;
            changed[i] ^= mask;
            EXPECT_THROW(vault.open(bytes(changed), kGrant), VaultError) << "byte " << i << " mask " << int{mask};
        }
    }
}

TEST(Vault, TruncatedOrExtendedEnvelopesAreRefused) {
    const Vault vault(ring_of({{"k1", 1}}, "k1"));
    const std::vector<uint8_t> envelope = vault.seal("a refresh token", kGrant);
    for (std::size_t length = 0; length < envelope.size(); ++length) {
        const std::vector<uint8_t> truncated(envelope.begin(), envelope.begin() + static_cast<long>(length));
        EXPECT_THROW(vault.open(bytes(truncated), kGrant), VaultError) << "length " << length;
    }
    std::vector<uint8_t> extended = envelope;
    extended.push_back(0);
    EXPECT_EQ(open_error(vault, extended, kGrant).kind(), VaultError::Kind::tampered);

    const std::vector<uint8_t> header_only(envelope.begin(), envelope.begin() + 7);
    const VaultError error = open_error(vault, header_only, kGrant);
    EXPECT_EQ(error.kind(), VaultError::Kind::malformed);
    EXPECT_THAT(error.what(), HasSubstr("truncated"));
}

TEST(Vault, UnknownFormatVersionIsMalformed) {
    const Vault vault(ring_of({{"k1", 1}}, "k1"));
    std::vector<uint8_t> envelope = vault.seal("token", kGrant);
    envelope[3] = '2';
    const VaultError error = open_error(vault, envelope, kGrant);
    EXPECT_EQ(error.kind(), VaultError::Kind::malformed);
    EXPECT_THAT(error.what(), HasSubstr("EPV1"));
    EXPECT_THROW(Vault::key_id_of(bytes(envelope)), VaultError);
    EXPECT_THROW(static_cast<void>(vault.needs_rewrap(bytes(envelope))), VaultError);
}

TEST(Vault, BadKeyIdLengthIsMalformed) {
    const Vault vault(ring_of({{"k1", 1}}, "k1"));
    std::vector<uint8_t> envelope = vault.seal("token", kGrant);
    for (const uint8_t length : {uint8_t{0}, uint8_t{33}, uint8_t{255}}) {
        envelope[4] = length;
        EXPECT_EQ(open_error(vault, envelope, kGrant).kind(), VaultError::Kind::malformed) << int{length};
    }
}

TEST(Vault, UnknownKeyIdIsNamed) {
    const std::vector<uint8_t> envelope = Vault(ring_of({{"old-key", 1}}, "old-key")).seal("token", kGrant);
    const Vault vault(ring_of({{"k2", 2}, {"k3", 3}}, "k2"));
    const VaultError error = open_error(vault, envelope, kGrant);
    EXPECT_EQ(error.kind(), VaultError::Kind::unknown_key);
    EXPECT_THAT(error.what(), AllOf(HasSubstr("\"old-key\""), HasSubstr("k2, k3")));
}

TEST(Vault, SameIdWithOtherKeyMaterialIsTampered) {
    const std::vector<uint8_t> envelope = Vault(ring_of({{"k1", 1}}, "k1")).seal("token", kGrant);
    const Vault vault(ring_of({{"k1", 9}}, "k1"));
    EXPECT_EQ(open_error(vault, envelope, kGrant).kind(), VaultError::Kind::tampered);
}

TEST(Vault, KeyRotationKeepsOldBlobsReadableUntilTheirKeyLeaves) {
    const Vault before(ring_of({{"k1", 1}}, "k1"));
    const std::vector<uint8_t> old_blob = before.seal("old refresh token", kGrant);
    EXPECT_FALSE(before.needs_rewrap(bytes(old_blob)));

    const Vault rotated(ring_of({{"k1", 1}, {"k2", 2}}, "k2"));
    EXPECT_EQ(rotated.active_key_id(), "k2");
    EXPECT_EQ(rotated.open(bytes(old_blob), kGrant).view(), "old refresh token");
    EXPECT_TRUE(rotated.needs_rewrap(bytes(old_blob)));
    const std::vector<uint8_t> new_blob = rotated.seal("new refresh token", kGrant);
    EXPECT_EQ(Vault::key_id_of(bytes(new_blob)), "k2");
    EXPECT_FALSE(rotated.needs_rewrap(bytes(new_blob)));

    const Vault retired(ring_of({{"k2", 2}}, "k2"));
    EXPECT_EQ(retired.open(bytes(new_blob), kGrant).view(), "new refresh token");
    const VaultError error = open_error(retired, old_blob, kGrant);
    EXPECT_EQ(error.kind(), VaultError::Kind::unknown_key);
    EXPECT_THAT(error.what(), HasSubstr("\"k1\""));
}

TEST(Vault, ErrorMessagesHoldNoKeyOrPlaintext) {
    const std::string plaintext = "M.C507_BAY.0.U.-plaintext-refresh-token";
    const Vault vault(ring_of({{"k1", 1}}, "k1"));
    std::vector<uint8_t> envelope = vault.seal(plaintext, kGrant);
    std::vector<std::string> messages;
    messages.push_back(open_error(vault, envelope, {"outlook", "other", "grant"}).what());
    messages.push_back(open_error(Vault(ring_of({{"k2", 2}}, "k2")), envelope, kGrant).what());
    messages.push_back(open_error(vault, std::vector<uint8_t>(envelope.begin(), envelope.begin() + 20), kGrant).what());
    envelope[0] = 'X';
    messages.push_back(open_error(vault, envelope, kGrant).what());
    for (const std::string& message : messages) {
        EXPECT_THAT(message, Not(HasSubstr("plaintext")));
        EXPECT_THAT(message, Not(HasSubstr(plaintext.substr(0, 10))));
        expect_no_key_material(message, key_with_seed(1));
        expect_no_key_material(message, key_with_seed(2));
    }
}

TEST(Vault, RequiresAnActiveKey) {
    EXPECT_THROW(Vault{KeyRing{}}, std::invalid_argument);
    KeyRing without_active;
    without_active.add("k1", key_with_seed(1));
    EXPECT_THROW(Vault{std::move(without_active)}, std::invalid_argument);
}

TEST(Vault, ConstMethodsRunConcurrently) {
    const Vault vault(ring_of({{"k1", 1}, {"k2", 2}}, "k2"));
    const std::vector<uint8_t> shared = vault.seal("shared token", kGrant);
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            const std::string account = "account-" + std::to_string(t);
            for (int i = 0; i < 200; ++i) {
                const std::string plaintext = "token-" + std::to_string(i);
                const auto envelope = vault.seal(plaintext, {"outlook", account, "grant"});
                if (vault.open(bytes(envelope), {"outlook", account, "grant"}).view() != plaintext) ++failures;
                if (vault.open(bytes(shared), kGrant).view() != "shared token") ++failures;
            }
        });
    }
    for (std::thread& thread : threads) thread.join();
    EXPECT_EQ(failures.load(), 0);
}

// ---- KeyRing ------------------------------------------------------------------------------

TEST(KeyRing, AddRefusesBadOrDuplicateIds) {
    KeyRing ring;
    EXPECT_THROW(ring.add("", key_with_seed(1)), std::invalid_argument);
    EXPECT_THROW(ring.add(std::string(33, 'a'), key_with_seed(1)), std::invalid_argument);
    EXPECT_THROW(ring.add("has space", key_with_seed(1)), std::invalid_argument);
    EXPECT_THROW(ring.add("slash/id", key_with_seed(1)), std::invalid_argument);
    ring.add(std::string(32, 'a'), key_with_seed(1));
    ring.add("A-z_0.9", key_with_seed(2));
    EXPECT_THROW(ring.add("A-z_0.9", key_with_seed(3)), std::invalid_argument);
    EXPECT_THROW(ring.set_active("missing"), std::invalid_argument);
    EXPECT_TRUE(ring.active_id().empty());
    ring.set_active("A-z_0.9");
    EXPECT_EQ(ring.active_id(), "A-z_0.9");
}

// A directory of key files and a set of environment variables, removed afterwards.
class KeyRingConfig : public ::testing::Test {
protected:
    void SetUp() override {
        std::string pattern = (std::filesystem::temp_directory_path() / "vault_test.XXXXXX").string();
        ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
        dir_ = pattern;
    }
    void TearDown() override {
        for (const std::string& name : env_) ::unsetenv(name.c_str());
        std::filesystem::remove_all(dir_);
    }

    std::string write_file(const std::string& name, const std::string& content) {
        const std::string path = (dir_ / name).string();
        std::ofstream(path, std::ios::binary) << content;
        return path;
    }
    std::string set_env(const std::string& name, const std::string& value) {
        const std::string full = "VAULT_TEST_" + std::to_string(::getpid()) + "_" + name;
        ::setenv(full.c_str(), value.c_str(), 1);
        env_.push_back(full);
        return full;
    }

    static KeyRing parse(const std::string& json) {
        return KeyRing::from_json(boost::json::parse(json), "token_encryption");
    }

    // The refusal of `json`; fails the test when it is accepted or refused otherwise.
    static ep::sdk::Error refusal(const std::string& json) {
        try {
            parse(json);
            ADD_FAILURE() << "accepted: " << json;
        } catch (const ep::sdk::Error& e) {
            EXPECT_EQ(e.status(), EP_ERR_CONFIG);
            EXPECT_EQ(e.code(), "invalid_config");
            EXPECT_THAT(e.what(), HasSubstr(e.field())) << "the message names the field";
            return e;
        }
        return ep::sdk::Error(EP_OK, "", "");
    }

    std::filesystem::path dir_;
    std::vector<std::string> env_;
};

// Opens with `ring` an envelope sealed under (id, key): proves the ring holds that key.
void expect_ring_holds(KeyRing ring, const std::string& id, const KeyRing::Key& key) {
    KeyRing reference;
    reference.add(id, key);
    reference.set_active(id);
    const std::vector<uint8_t> envelope = Vault(std::move(reference)).seal("probe", kGrant);
    EXPECT_EQ(Vault(std::move(ring)).open(bytes(envelope), kGrant).view(), "probe") << id;
}

TEST_F(KeyRingConfig, ReadsKeysFromFilesAndEnvironmentInHexAndBase64) {
    const auto k1 = key_with_seed(1), k2 = key_with_seed(2), k3 = key_with_seed(3), k4 = key_with_seed(4);
    const std::string file_hex = write_file("k1.key", hex_of(k1) + "\n");
    const std::string file_base64 = write_file("k2.key", "  " + base64_of(k2) + "\r\n");
    const std::string env_hex = set_env("K3", "\t" + hex_of(k3) + " ");
    const std::string env_base64 = set_env("K4", base64_of(k4) + "\n");
    const std::string json = R"({"active_key":"k4","keys":[{"id":"k1","file":")" + file_hex +
                             R"("},{"id":"k2","file":")" + file_base64 + R"("},{"id":"k3","env":")" + env_hex +
                             R"("},{"id":"k4","env":")" + env_base64 + R"("}]})";
    {
        const KeyRing ring = parse(json);
        EXPECT_EQ(ring.active_id(), "k4");
        for (const char* id : {"k1", "k2", "k3", "k4"}) EXPECT_TRUE(ring.contains(id)) << id;
    }
    expect_ring_holds(parse(json), "k1", k1);
    expect_ring_holds(parse(json), "k2", k2);
    expect_ring_holds(parse(json), "k3", k3);
    expect_ring_holds(parse(json), "k4", k4);
}

TEST_F(KeyRingConfig, UppercaseHexIsAccepted) {
    const auto key = key_with_seed(5);
    std::string hex = hex_of(key);
    for (char& c : hex) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    const std::string env = set_env("UPPER", hex);
    expect_ring_holds(parse(R"({"active_key":"k","keys":[{"id":"k","env":")" + env + R"("}]})"), "k", key);
}

TEST_F(KeyRingConfig, RefusesAShapelessSection) {
    EXPECT_EQ(refusal("[]").field(), "token_encryption");
    EXPECT_THAT(refusal(R"({"active_key":"k1"})").what(),
                AllOf(HasSubstr("token_encryption.keys"), HasSubstr("missing")));
    EXPECT_EQ(refusal(R"({"active_key":"k1","keys":{}})").field(), "token_encryption.keys");
    const auto empty = refusal(R"({"active_key":"k1","keys":[]})");
    EXPECT_EQ(empty.field(), "token_encryption.keys");
    EXPECT_THAT(empty.what(), HasSubstr("empty"));
    EXPECT_EQ(refusal(R"({"active_key":"k1","keys":["k1"]})").field(), "token_encryption.keys[0]");
    EXPECT_EQ(refusal(R"({"active_key":"k1","keys":[],"activekey":"x"})").field(), "token_encryption.activekey");
}

TEST_F(KeyRingConfig, RefusesInlineKeyMaterialWithoutEchoingIt) {
    const std::string material = hex_of(key_with_seed(7));
    const std::string env = set_env("K1", hex_of(key_with_seed(1)));
    for (const char* name : {"key", "value"}) {
        const auto error = refusal(R"({"active_key":"k1","keys":[{"id":"k1","env":")" + env + R"("},{"id":"k2",")" +
                                   name + R"(":")" + material + R"("}]})");
        EXPECT_EQ(error.field(), std::string("token_encryption.keys[1].") + name);
        EXPECT_THAT(error.what(), HasSubstr("never accepted inline"));
        expect_no_key_material(error.what(), key_with_seed(7));
    }
    const auto top = refusal(R"({"key":")" + material + R"(","active_key":"k1","keys":[]})");
    EXPECT_EQ(top.field(), "token_encryption.key");
    EXPECT_THAT(top.what(), HasSubstr("never accepted inline"));
    expect_no_key_material(top.what(), key_with_seed(7));
}

TEST_F(KeyRingConfig, RefusesBadIdsWithoutEchoingThem) {
    const std::string env = set_env("K1", hex_of(key_with_seed(1)));
    const std::string tail = R"(,"env":")" + env + R"("}]})";
    EXPECT_THAT(refusal(R"({"active_key":"k1","keys":[{"env":")" + env + R"("}]})").what(),
                AllOf(HasSubstr("token_encryption.keys[0].id"), HasSubstr("missing")));
    EXPECT_EQ(refusal(R"({"active_key":"k1","keys":[{"id":7)" + tail).field(), "token_encryption.keys[0].id");
    // Someone pasting a key as the id must not see it in a log.
    const std::string pasted = hex_of(key_with_seed(8));
    const auto error = refusal(R"({"active_key":"k1","keys":[{"id":")" + pasted + R"(")" + tail);
    EXPECT_EQ(error.field(), "token_encryption.keys[0].id");
    EXPECT_THAT(error.what(), HasSubstr("1 to 32 characters"));
    expect_no_key_material(error.what(), key_with_seed(8));
    EXPECT_EQ(refusal(R"({"active_key":"k1","keys":[{"id":"a b")" + tail).field(), "token_encryption.keys[0].id");
}

TEST_F(KeyRingConfig, RefusesDuplicateIds) {
    const std::string env = set_env("K1", hex_of(key_with_seed(1)));
    const auto error = refusal(R"({"active_key":"k1","keys":[{"id":"k1","env":")" + env + R"("},{"id":"k1","env":")" +
                               env + R"("}]})");
    EXPECT_EQ(error.field(), "token_encryption.keys[1].id");
    EXPECT_THAT(error.what(), AllOf(HasSubstr("duplicate"), HasSubstr("\"k1\"")));
}

TEST_F(KeyRingConfig, RequiresExactlyOneSource) {
    const std::string env = set_env("K1", hex_of(key_with_seed(1)));
    const std::string file = write_file("k1.key", hex_of(key_with_seed(1)));
    const auto both =
        refusal(R"({"active_key":"k1","keys":[{"id":"k1","env":")" + env + R"(","file":")" + file + R"("}]})");
    EXPECT_EQ(both.field(), "token_encryption.keys[0]");
    EXPECT_THAT(both.what(), HasSubstr("both"));
    const auto neither = refusal(R"({"active_key":"k1","keys":[{"id":"k1"}]})");
    EXPECT_EQ(neither.field(), "token_encryption.keys[0]");
    EXPECT_THAT(neither.what(), HasSubstr("neither"));
    const auto typo = refusal(R"({"active_key":"k1","keys":[{"id":"k1","flie":")" + file + R"("}]})");
    EXPECT_EQ(typo.field(), "token_encryption.keys[0].flie");
    EXPECT_THAT(typo.what(), HasSubstr("not a known field"));
    EXPECT_EQ(refusal(R"({"active_key":"k1","keys":[{"id":"k1","file":""}]})").field(),
              "token_encryption.keys[0].file");
    EXPECT_EQ(refusal(R"({"active_key":"k1","keys":[{"id":"k1","env":1}]})").field(), "token_encryption.keys[0].env");
}

TEST_F(KeyRingConfig, NamesAMissingOrUnreadableFile) {
    const std::string missing = (dir_ / "absent.key").string();
    const auto not_found = refusal(R"({"active_key":"k1","keys":[{"id":"k1","file":")" + missing + R"("}]})");
    EXPECT_EQ(not_found.field(), "token_encryption.keys[0].file");
    EXPECT_THAT(not_found.what(), AllOf(HasSubstr(missing), HasSubstr("not found")));

    const auto directory = refusal(R"({"active_key":"k1","keys":[{"id":"k1","file":")" + dir_.string() + R"("}]})");
    EXPECT_EQ(directory.field(), "token_encryption.keys[0].file");
    EXPECT_THAT(directory.what(), HasSubstr("not a regular file"));

    const std::string large = write_file("large.key", std::string(5000, 'a'));
    EXPECT_THAT(refusal(R"({"active_key":"k1","keys":[{"id":"k1","file":")" + large + R"("}]})").what(),
                HasSubstr("larger than 4096 bytes"));

    if (::geteuid() != 0) {  // root reads any file: permissions cannot make it unreadable
        const std::string locked = write_file("locked.key", hex_of(key_with_seed(1)));
        ::chmod(locked.c_str(), 0);
        const auto unreadable = refusal(R"({"active_key":"k1","keys":[{"id":"k1","file":")" + locked + R"("}]})");
        EXPECT_EQ(unreadable.field(), "token_encryption.keys[0].file");
        EXPECT_THAT(unreadable.what(), AllOf(HasSubstr(locked), HasSubstr("cannot be read")));
    }
}

TEST_F(KeyRingConfig, NamesAnUnsetOrEmptyVariable) {
    const std::string unset = "VAULT_TEST_" + std::to_string(::getpid()) + "_NEVER_SET";
    const auto error = refusal(R"({"active_key":"k1","keys":[{"id":"k1","env":")" + unset + R"("}]})");
    EXPECT_EQ(error.field(), "token_encryption.keys[0].env");
    EXPECT_THAT(error.what(), AllOf(HasSubstr(unset), HasSubstr("not set")));
    const std::string empty = set_env("EMPTY", "");
    EXPECT_THAT(refusal(R"({"active_key":"k1","keys":[{"id":"k1","env":")" + empty + R"("}]})").what(),
                AllOf(HasSubstr(empty), HasSubstr("empty")));
}

TEST_F(KeyRingConfig, RefusesKeysOfTheWrongShapeWithoutEchoingThem) {
    const auto key = key_with_seed(6);
    const std::string hex = hex_of(key);
    const std::string base64 = base64_of(key);
    std::string non_hex = hex;
    non_hex[10] = 'g';
    std::string loose_bits = base64;
    loose_bits[42] = static_cast<char>(loose_bits[42] + 1);  // nonzero bits past the 32 bytes
    const std::vector<std::string> wrong = {hex.substr(0, 63),
                                            hex + "00",
                                            non_hex,
                                            base64.substr(0, 43),
                                            base64.substr(0, 43) + "A",
                                            loose_bits,
                                            "base64:" + base64,
                                            "correct horse battery staple"};
    for (const std::string& content : wrong) {
        const std::string file = write_file("wrong.key", content);
        const auto from_file = refusal(R"({"active_key":"k1","keys":[{"id":"k1","file":")" + file + R"("}]})");
        EXPECT_EQ(from_file.field(), "token_encryption.keys[0].file");
        EXPECT_THAT(from_file.what(),
                    AllOf(HasSubstr(file), HasSubstr("must be 32 bytes written as 64 hex digits or base64")));
        EXPECT_THAT(from_file.what(), Not(HasSubstr(content)));
        expect_no_key_material(from_file.what(), key);

        const std::string env = set_env("WRONG", content);
        const auto from_env = refusal(R"({"active_key":"k1","keys":[{"id":"k1","env":")" + env + R"("}]})");
        EXPECT_EQ(from_env.field(), "token_encryption.keys[0].env");
        EXPECT_THAT(from_env.what(), AllOf(HasSubstr(env), HasSubstr("must be 32 bytes")));
        EXPECT_THAT(from_env.what(), Not(HasSubstr(content)));
        expect_no_key_material(from_env.what(), key);
    }
}

TEST_F(KeyRingConfig, ActiveKeyMustNameAKey) {
    const std::string env = set_env("K1", hex_of(key_with_seed(1)));
    const std::string keys = R"("keys":[{"id":"k1","env":")" + env + R"("},{"id":"k2","env":")" + env + R"("}])";
    const auto missing = refusal("{" + keys + "}");
    EXPECT_EQ(missing.field(), "token_encryption.active_key");
    EXPECT_THAT(missing.what(), HasSubstr("missing"));
    const auto unknown = refusal(R"({"active_key":"k3",)" + keys + "}");
    EXPECT_EQ(unknown.field(), "token_encryption.active_key");
    EXPECT_THAT(unknown.what(), AllOf(HasSubstr("names no key"), HasSubstr("\"k3\""), HasSubstr("k1, k2")));
    EXPECT_EQ(refusal(R"({"active_key":2,)" + keys + "}").field(), "token_encryption.active_key");
}

TEST_F(KeyRingConfig, FieldPathFollowsTheCaller) {
    const auto error = [] {
        try {
            KeyRing::from_json(boost::json::parse(R"({"active_key":"k1","keys":[{"id":"k1"}]})"),
                               "providers[0].keys_x");
        } catch (const ep::sdk::Error& e) {
            return std::string(e.field());
        }
        return std::string("(accepted)");
    }();
    EXPECT_EQ(error, "providers[0].keys_x.keys[0]");
}

// ---- Redaction ----------------------------------------------------------------------------

using ep::kit::redact;

const std::vector<std::string> kSecretNames = {
    "code", "state", "code_verifier", "code_challenge", "client_secret", "client_assertion", "refresh_token",
    "access_token", "id_token", "assertion", "password", "session_state",
    // Google's revoke endpoint takes the grant's token as `token`
    // (https://developers.google.com/identity/protocols/oauth2/web-server#tokenrevoke).
    "token"};

std::string upper(std::string text) {
    for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return text;
}

TEST(Redact, ParameterValues) {
    for (const std::string& name : kSecretNames) {
        for (const std::string& spelled : {name, upper(name)}) {
            EXPECT_EQ(redact("POST /token " + spelled + "=s3cr3t-V4lue&client_id=abc-123"),
                      "POST /token " + spelled + "=[REDACTED]&client_id=abc-123");
            EXPECT_EQ(redact("https://app/cb?x=1&" + spelled + "=0.AX~y*z!" + " next"),
                      "https://app/cb?x=1&" + spelled + "=[REDACTED] next");
        }
    }
}

TEST(Redact, ParameterValueEndsAtDelimiters) {
    EXPECT_EQ(redact("code=abc def"), "code=[REDACTED] def");
    EXPECT_EQ(redact("code=abc&state=xyz"), "code=[REDACTED]&state=[REDACTED]");
    EXPECT_EQ(redact(R"({"url":"https://a/cb?code=abc","ok":true})"),
              R"({"url":"https://a/cb?code=[REDACTED]","ok":true})");
    EXPECT_EQ(redact("url='https://a/cb?state=xyz'"), "url='https://a/cb?state=[REDACTED]'");
    EXPECT_EQ(redact(R"(password="two words" user=bob)"), R"(password="[REDACTED]" user=bob)");
    EXPECT_EQ(redact("code=\ncode="), "code=\ncode=");  // empty values: nothing to hide
}

TEST(Redact, JsonFields) {
    for (const std::string& name : kSecretNames) {
        EXPECT_EQ(redact(R"({")" + name + R"(":"v-a.l_u~e","name":"Ada"})"),
                  R"({")" + name + R"(":"[REDACTED]","name":"Ada"})");
        EXPECT_EQ(redact(R"({ ")" + upper(name) + R"(" : "value" })"),
                  R"({ ")" + upper(name) + R"(" : "[REDACTED]" })");
    }
    EXPECT_EQ(redact(R"({"password":"a\"b\\","next":"c"})"), R"({"password":"[REDACTED]","next":"c"})");
    EXPECT_EQ(redact(R"(log: "{\"refresh_token\":\"M.R3_BAY\",\"scope\":\"Mail.Send\"}")"),
              R"(log: "{\"refresh_token\":\"[REDACTED]\",\"scope\":\"Mail.Send\"}")");
    EXPECT_EQ(redact("{'access_token': 'EwBwA8l6', 'expires_in': 3600}"),
              "{'access_token': '[REDACTED]', 'expires_in': 3600}");
    EXPECT_EQ(redact(R"({"code":1234,"state":null})"), R"({"code":1234,"state":null})");  // not strings
    EXPECT_EQ(redact(R"({"id_token":"truncated)"), R"({"id_token":"[REDACTED])");
}

TEST(Redact, BearerCredentials) {
    EXPECT_EQ(redact("Authorization: Bearer EwBwA8l6BAAU+abc/def=="), "Authorization: Bearer [REDACTED]");
    EXPECT_EQ(redact("retrying with bearer  opaque.token-value!* after 5s"),
              "retrying with bearer  [REDACTED] after 5s");
    EXPECT_EQ(redact(R"({"headers":{"Authorization":"Bearer abc.def"}})"),
              R"({"headers":{"Authorization":"Bearer [REDACTED]"}})");
    EXPECT_EQ(redact(R"({"token_type":"Bearer","expires_in":3599})"), R"({"token_type":"Bearer","expires_in":3599})");
}

TEST(Redact, AuthorizationOfAnyScheme) {
    EXPECT_EQ(redact("Authorization: Basic Y2xpZW50OnNlY3JldA=="), "Authorization: Basic [REDACTED]");
    EXPECT_EQ(redact("authorization=rawcredential&x=1"), "authorization=[REDACTED]&x=1");
    EXPECT_EQ(redact(R"({"authorization":"opaque"})"), R"({"authorization":"[REDACTED]"})");
}

TEST(Redact, JwtShapedStrings) {
    const std::string jws =
        "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ."
        "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
    EXPECT_EQ(redact("token " + jws + " expired"), "token [REDACTED] expired");
    EXPECT_EQ(redact("(" + jws + ")"), "([REDACTED])");
    EXPECT_EQ(redact("unsecured eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0. end"), "unsecured [REDACTED] end");
    EXPECT_EQ(redact("jwe eyJhbGciOiJkaXIifQ..iv-part.cipher_text.tag"), "jwe [REDACTED]");
    EXPECT_EQ(redact(R"({"assertion_hint":")" + jws + R"("})"), R"({"assertion_hint":"[REDACTED]"})");
}

TEST(Redact, OrdinaryTextIsUntouched) {
    for (const std::string text : {
             "sent message 7f3a to alice@example.com in 120 ms",
             "error_code=42 status=429 retry_after=5 request-id=5d1e",
             "grant_type=authorization_code&redirect_uri=https://app.example/cb&scope=Mail.Send",
             "the authorization code flow needs a state value",
             "account state: connected (expires 2025-01-01T00:00:00Z)",
             R"({"error":"invalid_grant","error_codes":[70000],"token_type":"Bearer"})",
             "eyJ is how a JWT starts; version 1.2.3 eyJabc.def",
             "",
             "unicode: Grüße, 日本語 ✓",
         }) {
        EXPECT_EQ(redact(text), text);
    }
}

TEST(Redact, SurvivesArbitraryInput) {
    // Names at the very end, unterminated quotes, lone escapes: no throw, no read past the
    // text (the asan preset checks that part).
    const std::string alphabet = "code=state\"':\\ &Bearer eyJ.Authorization_x";
    std::mt19937 random(42);
    for (int i = 0; i < 3000; ++i) {
        std::string text(random() % 40, ' ');
        for (char& c : text) c = alphabet[random() % alphabet.size()];
        EXPECT_NO_THROW(static_cast<void>(redact(text))) << text;
    }
}

TEST(Redact, IsIdempotent) {
    const std::string text = "code=abc&state=def Authorization: Bearer xyz {\"password\":\"p\"}";
    EXPECT_EQ(redact(redact(text)), redact(text));
}

TEST(Redactor, HidesRegisteredSecretsAnywhere) {
    ep::kit::Redactor redactor;
    redactor.add_secret("client~secret.Value_123");
    redactor.add_secret("opaque-refresh-token");
    EXPECT_EQ(redactor.redact("cfg secret=client~secret.Value_123; tok:opaque-refresh-token!"),
              "cfg secret=[REDACTED]; tok:[REDACTED]!");
    EXPECT_EQ(redactor.redact("glued:xxclient~secret.Value_123yy"), "glued:xx[REDACTED]yy");
    EXPECT_EQ(redactor.redact("code=abc and plain text"), "code=[REDACTED] and plain text");  // patterns too
}

TEST(Redactor, PrefersTheLongestSecretAndIgnoresShortOnes) {
    ep::kit::Redactor redactor;
    redactor.add_secret("abcdefgh");
    redactor.add_secret("abcdefgh-ijkl");
    redactor.add_secret("short");
    EXPECT_EQ(redactor.redact("x abcdefgh-ijkl y abcdefgh z short"), "x [REDACTED] y [REDACTED] z short");
}

TEST(Redactor, SecretContainingADelimiterIsHiddenWhole) {
    ep::kit::Redactor redactor;
    redactor.add_secret("part-one&part-two");
    EXPECT_EQ(redactor.redact("client_secret=part-one&part-two&x=1"), "client_secret=[REDACTED]&x=1");
}

TEST(Redactor, KeepsOnlyTheMostRecentSecrets) {
    ep::kit::Redactor redactor;
    for (std::size_t i = 0; i <= ep::kit::Redactor::kCapacity; ++i) redactor.add_secret("secret-" + std::to_string(i));
    redactor.add_secret("secret-" + std::to_string(ep::kit::Redactor::kCapacity));  // a duplicate changes nothing
    EXPECT_EQ(redactor.redact("old secret-0 end"), "old secret-0 end");
    EXPECT_EQ(redactor.redact("kept secret-1 end"), "kept [REDACTED] end");
    EXPECT_EQ(redactor.redact("new secret-10000 end"), "new [REDACTED] end");
}

TEST(Redactor, RegistersAndRedactsConcurrently) {
    ep::kit::Redactor redactor;
    std::atomic<int> leaks{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 300; ++i) {
                const std::string secret = "thread-" + std::to_string(t) + "-secret-" + std::to_string(i);
                redactor.add_secret(secret);
                if (redactor.redact("log " + secret + " line").find(secret) != std::string::npos) ++leaks;
            }
        });
    }
    for (std::thread& thread : threads) thread.join();
    EXPECT_EQ(leaks.load(), 0);
}

}  // namespace
