// Guards the ABI against accidental change: the layout of every field on this platform (LP64,
// ep_abi_layout.h, generated from the header) and a hash of the header. Editing ep_abi.h fails
// this test until the recorded hash in plugin_api/abi.sha256 is updated, which forces a
// conscious decision about the version.
#include "ep_abi_layout.h"

#include <gtest/gtest.h>

#include <openssl/evp.h>

#include <fstream>
#include <sstream>

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
        << "ep_abi.h changed: this is an ABI change unless only comments changed. Fields may only be appended at the "
           "end of a table, with EP_ABI_VERSION_MINOR bumped and a line added to the VERSION HISTORY at the top of "
           "ep_abi.h (then regenerate tests/abi/ep_abi_layout.h and freeze the released header: tests/abi/README.md). "
           "Moving, retyping or removing a field needs a new major. Only then record the new hash in "
           "plugin_api/abi.sha256.\n";
}
