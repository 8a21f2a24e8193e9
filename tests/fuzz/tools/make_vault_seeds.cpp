// make_vault_seeds <dir>: writes the seed envelopes of fuzz_vault_envelope into <dir>.
//
// Valid envelopes cannot be written by hand (each carries a fresh nonce and a GCM tag), so
// they are sealed here with the harness's test keys (vault_test_keys.hpp). Rerun it when
// the envelope format or the test keys change:
//   build/fuzz/bin/make_vault_seeds tests/fuzz/corpus/vault_envelope
// The broken seeds next to them (bad magic, truncated, bad key id) are written here as
// well, so the whole seed set is reproducible from one command.
#include "vault_test_keys.hpp"

#include <ep_kit/vault.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

using Bytes = std::vector<uint8_t>;

Bytes sealed(std::string_view key_id, uint8_t key_seed, std::string_view plaintext,
             const ep::kit::VaultContext& context = fuzz::kGrantContext) {
    ep::kit::KeyRing ring;
    ring.add(std::string(key_id), fuzz::test_key(key_seed));
    ring.set_active(key_id);
    return ep::kit::Vault(std::move(ring)).seal(plaintext, context);
}

void write(const std::filesystem::path& dir, const std::string& name, const Bytes& bytes) {
    std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    if (!out) throw std::runtime_error("cannot write " + (dir / name).string());
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s <output dir>\n", argv[0]);
        return 2;
    }
    const std::filesystem::path dir = argv[1];
    std::filesystem::create_directories(dir);

    // Obviously fake token text: the shape of what the plugin stores, nothing real.
    const std::string grant =
        R"({"refresh_token":"fake-refresh-token-0000","scope":"Mail.Send User.Read offline_access"})";
    const Bytes k2 = sealed("k2", 2, grant);
    write(dir, "sealed-k2-active.bin", k2);
    write(dir, "sealed-k1-needs-rewrap.bin", sealed("k1", 1, grant));
    write(dir, "sealed-k2-empty.bin", sealed("k2", 2, ""));
    write(dir, "sealed-k3-unknown-key.bin", sealed("k3", 3, grant));
    write(dir, "sealed-k2-other-slot.bin", sealed("k2", 2, grant, {"outlook", "account-42", "pending"}));
    write(dir, "sealed-long-key-id.bin", sealed("rotated-2026.07_key-0123456789ab", 9, "fake-access-token-1"));

    Bytes bad_magic = k2;
    bad_magic[3] = '2';
    write(dir, "broken-magic-epv2.bin", bad_magic);
    write(dir, "broken-truncated-header.bin", Bytes(k2.begin(), k2.begin() + 6));
    write(dir, "broken-truncated-tag.bin", Bytes(k2.begin(), k2.end() - 1));
    Bytes zero_id = k2;
    zero_id[4] = 0;
    write(dir, "broken-id-length-zero.bin", zero_id);
    Bytes long_id = k2;
    long_id[4] = 33;
    write(dir, "broken-id-length-33.bin", long_id);
    Bytes bad_id = k2;
    bad_id[5] = '/';
    write(dir, "broken-id-character.bin", bad_id);
    Bytes bad_tag = k2;
    bad_tag.back() ^= 0x01;
    write(dir, "broken-tag-bit.bin", bad_tag);
    return 0;
}
