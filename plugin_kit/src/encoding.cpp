#include "ep_kit/encoding.hpp"

#include <email_provider/message.hpp>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <stdexcept>

namespace ep::kit {

std::string base64url_encode(std::string_view bytes) {
    std::string s = ep::message::base64_encode(bytes);
    while (!s.empty() && s.back() == '=') s.pop_back();
    for (char& c : s) {
        if (c == '+')
            c = '-';
        else if (c == '/')
            c = '_';
    }
    return s;
}

std::string base64url_decode(std::string_view text) {
    std::string s(text);
    for (char& c : s) {
        if (c == '-')
            c = '+';
        else if (c == '_')
            c = '/';
        else if (c == '+' || c == '/' || c == '=')
            throw std::invalid_argument("not base64url");
    }
    if (s.size() % 4 == 1) throw std::invalid_argument("not base64url");
    while (s.size() % 4 != 0) s.push_back('=');
    auto decoded = ep::message::base64_decode(s);
    if (!decoded) throw std::invalid_argument("not base64url");
    return *decoded;
}

namespace {
std::string digest(std::string_view data, const EVP_MD* md) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(data.data(), data.size(), out, &len, md, nullptr) != 1) throw std::runtime_error("digest failed");
    return std::string(reinterpret_cast<char*>(out), len);
}
}  // namespace

std::string sha256(std::string_view data) { return digest(data, EVP_sha256()); }
std::string sha1(std::string_view data) { return digest(data, EVP_sha1()); }

std::string random_bytes(std::size_t n) {
    std::string out(n, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1)
        throw std::runtime_error("the system random number generator failed");
    return out;
}

std::string random_urlsafe(std::size_t bytes) { return base64url_encode(random_bytes(bytes)); }

std::string random_uuid() {
    std::string b = random_bytes(16);
    b[6] = static_cast<char>((b[6] & 0x0F) | 0x40);
    b[8] = static_cast<char>((b[8] & 0x3F) | 0x80);
    std::string h = hex(b);
    return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) + "-" + h.substr(20);
}

std::string hex(std::string_view bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (unsigned char c : bytes) {
        out.push_back(digits[c >> 4]);
        out.push_back(digits[c & 15]);
    }
    return out;
}

}  // namespace ep::kit
