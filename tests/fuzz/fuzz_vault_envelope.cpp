// fuzz_vault_envelope: ep::kit::Vault on arbitrary envelopes, and seal/open round trips.
//
// Every input is used twice:
//  1. as an envelope read back from the host's secret store, which the plugin does not
//     control (a corrupted database, a blob copied from another account, an attacker with
//     write access to the store): open, key_id_of and needs_rewrap may only throw
//     VaultError, of the kind that matches what is wrong with the header;
//  2. as a plaintext: seal then open must give it back, and the envelope must not open
//     in another context nor after any one of its bytes is changed.
// The key ring is fixed test keys built in code (vault_test_keys.hpp).
#include "fuzz_support.hpp"
#include "vault_test_keys.hpp"

#include <ep_kit/vault.hpp>

#include <array>
#include <optional>
#include <string>
#include <vector>

namespace {

using ep::kit::Vault;
using ep::kit::VaultContext;
using ep::kit::VaultError;

const Vault& vault() {
    static const Vault v(fuzz::harness_key_ring());
    return v;
}

std::string hex_of(std::span<const uint8_t> bytes) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    for (uint8_t b : bytes.first(std::min<std::size_t>(bytes.size(), 64))) {
        out += kDigits[b >> 4];
        out += kDigits[b & 0x0F];
    }
    return out;
}

void check_envelope(std::span<const uint8_t> envelope) {
    // The two header readers agree with each other...
    std::optional<std::string> id;
    try {
        id = Vault::key_id_of(envelope);
    } catch (const VaultError& e) {
        FUZZ_CHECK(e.kind() == VaultError::Kind::malformed, e.what());
    }
    std::optional<bool> rewrap;
    try {
        rewrap = vault().needs_rewrap(envelope);
    } catch (const VaultError& e) {
        FUZZ_CHECK(e.kind() == VaultError::Kind::malformed, e.what());
    }
    FUZZ_CHECK(id.has_value() == rewrap.has_value(), hex_of(envelope));
    if (id) FUZZ_CHECK(*rewrap == (*id != "k2"), *id);

    // ...and with open, whose error kind tells the plugin what to report (a storage error
    // for "malformed" and "tampered", a configuration error for "unknown_key").
    try {
        ep::kit::SecretString plaintext = vault().open(envelope, fuzz::kGrantContext);
        FUZZ_CHECK(id && (*id == "k1" || *id == "k2"), hex_of(envelope));
    } catch (const VaultError& e) {
        const VaultError::Kind want = !id                            ? VaultError::Kind::malformed
                                      : (*id == "k1" || *id == "k2") ? VaultError::Kind::tampered
                                                                     : VaultError::Kind::unknown_key;
        FUZZ_CHECK(e.kind() == want, e.what());
    }
}

void expect_refused(std::span<const uint8_t> envelope, const VaultContext& context, std::string_view what) {
    try {
        const ep::kit::SecretString opened = vault().open(envelope, context);
    } catch (const VaultError&) {
        return;
    }
    fuzz::fail(__FILE__, __LINE__, "an envelope opened that must not", what);
}

void check_round_trip(std::string_view plaintext) {
    const std::vector<uint8_t> sealed = vault().seal(plaintext, fuzz::kGrantContext);
    // magic, id length, "k2", nonce, ciphertext, tag
    FUZZ_CHECK(sealed.size() == 4 + 1 + 2 + 12 + plaintext.size() + 16, std::to_string(sealed.size()));
    FUZZ_CHECK(Vault::key_id_of(sealed) == "k2" && !vault().needs_rewrap(sealed), hex_of(sealed));
    FUZZ_CHECK(vault().open(sealed, fuzz::kGrantContext).view() == plaintext, plaintext);

    // Bound to provider, account and slot, with the field boundaries authenticated too.
    static const std::array<VaultContext, 4> kOtherContexts = {{
        {"outlook", "account-4", "2grant"},
        {"outlook", "account-42", "pending"},
        {"outlook", "account-43", "grant"},
        {"outlookaccount-42", "", "grant"},
    }};
    for (const VaultContext& other : kOtherContexts) expect_refused(sealed, other, other.account);

    // One changed bit anywhere (header, nonce, ciphertext or tag); the position and bit come
    // from the input so that the fuzzer walks over all of them.
    std::size_t mix = plaintext.size();
    for (unsigned char c : plaintext) mix = mix * 131 + c;
    std::vector<uint8_t> flipped = sealed;
    flipped[mix % flipped.size()] ^= static_cast<uint8_t>(1u << (mix / flipped.size() % 8));
    expect_refused(flipped, fuzz::kGrantContext, "one bit flipped at " + std::to_string(mix % flipped.size()));

    // Cut short or extended.
    expect_refused(std::span(sealed).first(sealed.size() - 1), fuzz::kGrantContext, "truncated by one byte");
    std::vector<uint8_t> longer = sealed;
    longer.push_back(0);
    expect_refused(longer, fuzz::kGrantContext, "extended by one byte");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    check_envelope(fuzz::as_bytes(data, size));
    check_round_trip(fuzz::as_text(data, size));
    return 0;
}
