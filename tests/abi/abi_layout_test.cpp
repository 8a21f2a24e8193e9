// Guards the ABI against accidental change: the layout of every table on this platform
// (LP64) and a hash of the header. Editing ep_abi.h fails this test until the recorded hash
// in plugin_api/abi.sha256 is updated, which forces a conscious decision about the version.
#include <email_provider/ep_abi.h>

#include <gtest/gtest.h>

#include <openssl/evp.h>

#include <fstream>
#include <sstream>

static_assert(sizeof(void*) == 8, "layout checks below are for LP64");
static_assert(offsetof(ep_provider_api, struct_size) == 0);
static_assert(offsetof(ep_provider_api, abi_major) == 4);
static_assert(offsetof(ep_provider_api, abi_minor) == 6);
static_assert(offsetof(ep_provider_api, capabilities) == 8);
static_assert(offsetof(ep_provider_api, create) == 16);
static_assert(offsetof(ep_provider_api, free_str) == 80);
static_assert(sizeof(ep_provider_api) == 88);
static_assert(offsetof(ep_host_api, host_ctx) == 8);
static_assert(offsetof(ep_host_api, secret_delete_prefix) == 64);
static_assert(sizeof(ep_host_api) == 72);
static_assert(offsetof(ep_negotiation, provider) == 16);
static_assert(sizeof(ep_negotiation) == 40);
static_assert(sizeof(ep_str) == 16 && sizeof(ep_bytes) == 16 && sizeof(ep_owned_str) == 16);

namespace {

std::string slurp(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
}

std::string sha256_hex(const std::string& data) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
    std::string hex;
    static constexpr char digits[] = "0123456789abcdef";
    for (unsigned int i = 0; i < len; ++i) {
        hex.push_back(digits[md[i] >> 4]);
        hex.push_back(digits[md[i] & 15]);
    }
    return hex;
}

}  // namespace

TEST(AbiHeader, HashMatchesRecordedVersion) {
    std::string header = slurp(EP_SOURCE_DIR "/plugin_api/include/email_provider/ep_abi.h");
    ASSERT_FALSE(header.empty());
    std::string recorded = slurp(EP_SOURCE_DIR "/plugin_api/abi.sha256");
    recorded = recorded.substr(0, recorded.find_first_of(" \n"));
    EXPECT_EQ(sha256_hex(header), recorded)
        << "ep_abi.h changed. If the change is ABI-compatible (appended fields, new docs), record the new hash in "
           "plugin_api/abi.sha256 and bump EP_ABI_VERSION_MINOR when fields were added; otherwise bump the major.";
}
