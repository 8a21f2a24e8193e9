// The key ring of the vault fuzz target and of tools/make_vault_seeds.cpp, which must agree
// for the seed envelopes to open. Test keys only: derived from a counter in code, never read
// from a file, and never used outside tests.
#pragma once

#include <ep_kit/vault.hpp>

#include <cstdint>

namespace fuzz {

inline ep::kit::KeyRing::Key test_key(uint8_t seed) {
    ep::kit::KeyRing::Key key{};
    for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(seed * 31 + i * 7 + 1);
    return key;
}

// The harness's ring: "k1" is the previous key (its envelopes open and need rewrapping),
// "k2" the active one. Seed envelopes also use "k3", a key this ring does not have.
inline ep::kit::KeyRing harness_key_ring() {
    ep::kit::KeyRing ring;
    ring.add("k1", test_key(1));
    ring.add("k2", test_key(2));
    ring.set_active("k2");
    return ring;
}

// The context the seeds are sealed for, as the plugin binds a stored refresh grant.
inline const ep::kit::VaultContext kGrantContext{"outlook", "account-42", "grant"};

}  // namespace fuzz
