#include "support.hpp"

#include <curl/curl.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <fstream>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <mutex>
#include <stdexcept>

namespace mst {

namespace {

std::once_flag curl_once;

size_t write_body(char* data, size_t size, size_t n, void* user) {
    static_cast<std::string*>(user)->append(data, size * n);
    return size * n;
}

size_t write_header(char* data, size_t size, size_t n, void* user) {
    std::string line(data, size * n);
    auto colon = line.find(':');
    if (colon != std::string::npos) {
        std::string name = line.substr(0, colon);
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        std::string value = line.substr(colon + 1);
        while (!value.empty() && (value.front() == ' ')) value.erase(0, 1);
        while (!value.empty() && (value.back() == '\r' || value.back() == '\n')) value.pop_back();
        static_cast<std::multimap<std::string, std::string>*>(user)->emplace(name, value);
    }
    return size * n;
}

std::string b64(const std::string& raw) {
    std::string out(4 * ((raw.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(raw.data()), static_cast<int>(raw.size()));
    out.resize(static_cast<size_t>(n));
    return out;
}

std::string digest(const EVP_MD* md, const std::string& data) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(data.data(), data.size(), out, &len, md, nullptr);
    return std::string(reinterpret_cast<char*>(out), len);
}

std::string random_hex(size_t bytes) {
    std::string raw(bytes, '\0');
    RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes));
    static const char* d = "0123456789abcdef";
    std::string out;
    for (unsigned char c : raw) {
        out += d[c >> 4];
        out += d[c & 15];
    }
    return out;
}

}  // namespace

std::string HttpResult::header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
}

json::value HttpResult::json() const { return json::parse(body); }

HttpResult http(const std::string& url, const Request& req) {
    std::call_once(curl_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    HttpResult r;
    CURL* h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    if (req.method == "HEAD") curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    if (!req.body.empty() || req.method == "POST") {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, req.body.data());
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
    }
    curl_slist* list = nullptr;
    for (const auto& hd : req.headers) list = curl_slist_append(list, hd.c_str());
    if (list) curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
    if (!req.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, req.ca_file.c_str());
    if (!req.verify) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (!req.cookie.empty()) curl_easy_setopt(h, CURLOPT_COOKIE, req.cookie.c_str());
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, req.timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &r.body);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, write_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &r.headers);
    r.curl_code = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(list);
    curl_easy_cleanup(h);
    return r;
}

std::string url_escape(const std::string& s) {
    std::string out;
    static const char* hex = "0123456789ABCDEF";
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

std::string form_encode(const std::vector<std::pair<std::string, std::string>>& fields) {
    std::string out;
    for (const auto& [k, v] : fields) {
        if (!out.empty()) out += '&';
        out += url_escape(k) + "=" + url_escape(v);
    }
    return out;
}

std::map<std::string, std::string> url_params(const std::string& url) {
    std::map<std::string, std::string> out;
    auto start = url.find_first_of("?#");
    if (start == std::string::npos) return out;
    std::string q = url.substr(start + 1);
    size_t pos = 0;
    while (pos < q.size()) {
        size_t end = q.find('&', pos);
        if (end == std::string::npos) end = q.size();
        std::string item = q.substr(pos, end - pos);
        pos = end + 1;
        auto eq = item.find('=');
        std::string k = item.substr(0, eq), v = eq == std::string::npos ? "" : item.substr(eq + 1);
        for (auto& c : v)
            if (c == '+') c = ' ';
        int len = 0;
        char* dec = curl_easy_unescape(nullptr, v.c_str(), static_cast<int>(v.size()), &len);
        out[k] = std::string(dec, static_cast<size_t>(len));
        curl_free(dec);
    }
    return out;
}

std::string b64url(const std::string& raw) {
    std::string s = b64(raw);
    while (!s.empty() && s.back() == '=') s.pop_back();
    for (auto& c : s) c = c == '+' ? '-' : c == '/' ? '_' : c;
    return s;
}

std::string b64url_decode(const std::string& text) {
    std::string s = text;
    for (auto& c : s) c = c == '-' ? '+' : c == '_' ? '/' : c;
    while (s.size() % 4) s += '=';
    std::string out(s.size(), '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(s.data()), static_cast<int>(s.size()));
    if (n < 0) throw std::runtime_error("bad base64url");
    size_t pad = s.size() - text.size();
    out.resize(static_cast<size_t>(n) - pad);
    return out;
}

std::string sha256(const std::string& data) { return digest(EVP_sha256(), data); }

Pkce make_pkce() {
    Pkce p;
    p.verifier = b64url(random_hex(24)) + random_hex(16);  // 64 chars of [A-Za-z0-9_-]
    p.verifier.resize(64, 'x');
    p.challenge = b64url(sha256(p.verifier));
    return p;
}

std::string make_assertion(const AssertionSpec& s) {
    FILE* cf = std::fopen(s.cert_file.c_str(), "rb");
    if (!cf) throw std::runtime_error("cannot open " + s.cert_file);
    X509* cert = PEM_read_X509(cf, nullptr, nullptr, nullptr);
    std::fclose(cf);
    FILE* kf = std::fopen(s.key_file.c_str(), "rb");
    if (!kf) throw std::runtime_error("cannot open " + s.key_file);
    EVP_PKEY* key = PEM_read_PrivateKey(kf, nullptr, nullptr, nullptr);
    std::fclose(kf);
    if (!cert || !key) throw std::runtime_error("bad PEM");
    unsigned char* der = nullptr;
    int der_len = i2d_X509(cert, &der);
    std::string der_s(reinterpret_cast<char*>(der), static_cast<size_t>(der_len));
    OPENSSL_free(der);
    X509_free(cert);

    json::object header{{"alg", s.alg}, {"typ", "JWT"}};
    if (s.alg == "PS256")
        header["x5t#S256"] = b64url(sha256(der_s));
    else
        header["x5t"] = b64url(digest(EVP_sha1(), der_s));
    json::object claims{{"aud", s.audience},
                        {"iss", s.client_id},
                        {"sub", s.client_id},
                        {"jti", s.jti.empty() ? random_hex(16) : s.jti},
                        {"nbf", s.now},
                        {"iat", s.now},
                        {"exp", s.now + s.lifetime}};
    const std::string input = b64url(json::serialize(header)) + "." + b64url(json::serialize(claims));

    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX* pctx = nullptr;
    EVP_DigestSignInit(ctx, &pctx, EVP_sha256(), nullptr, key);
    if (s.alg == "PS256") {
        EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST);
    }
    size_t len = 0;
    EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()), input.size());
    std::string sig(len, '\0');
    EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                   reinterpret_cast<const unsigned char*>(input.data()), input.size());
    sig.resize(len);
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    if (s.corrupt_signature) sig[sig.size() / 2] = static_cast<char>(sig[sig.size() / 2] ^ 0x5a);
    return input + "." + b64url(sig);
}

json::value verify_rs256(const std::string& jwt, const json::object& jwk) {
    auto d1 = jwt.find('.'), d2 = jwt.rfind('.');
    if (d1 == std::string::npos || d1 == d2) return nullptr;
    std::string n = b64url_decode(std::string(jwk.at("n").as_string()));
    std::string e = b64url_decode(std::string(jwk.at("e").as_string()));
    BIGNUM* bn_n = BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()), static_cast<int>(n.size()), nullptr);
    BIGNUM* bn_e = BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()), static_cast<int>(e.size()), nullptr);
    OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n);
    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e);
    OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX* kctx = EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr);
    EVP_PKEY* key = nullptr;
    EVP_PKEY_fromdata_init(kctx);
    EVP_PKEY_fromdata(kctx, &key, EVP_PKEY_PUBLIC_KEY, params);
    const std::string input = jwt.substr(0, d2);
    const std::string sig = b64url_decode(jwt.substr(d2 + 1));
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    bool ok = key && EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
              EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                               reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    EVP_PKEY_CTX_free(kctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn_n);
    BN_free(bn_e);
    if (!ok) return nullptr;
    return json::parse(b64url_decode(jwt.substr(d1 + 1, d2 - d1 - 1)));
}

// ---- fixture ----

ms_sandbox::Options SandboxTest::options() { return {}; }

void SandboxTest::SetUp() {
    sandbox = std::make_unique<ms_sandbox::Sandbox>(options());
    pkce = make_pkce();
}

HttpResult SandboxTest::get(const std::string& path, std::vector<std::string> headers) {
    Request r;
    r.ca_file = sandbox->ca_file().string();
    r.headers = std::move(headers);
    return http(url(path), r);
}

HttpResult SandboxTest::post_form(const std::string& path,
                                  const std::vector<std::pair<std::string, std::string>>& fields,
                                  std::vector<std::string> headers) {
    Request r;
    r.method = "POST";
    r.ca_file = sandbox->ca_file().string();
    r.headers = std::move(headers);
    r.headers.push_back("Content-Type: application/x-www-form-urlencoded");
    r.body = form_encode(fields);
    return http(url(path), r);
}

HttpResult SandboxTest::post_json(const std::string& path, const std::string& body, std::vector<std::string> headers) {
    Request r;
    r.method = "POST";
    r.ca_file = sandbox->ca_file().string();
    r.headers = std::move(headers);
    r.headers.push_back("Content-Type: application/json");
    r.body = body;
    return http(url(path), r);
}

std::string SandboxTest::authorize_url(const AuthorizeSpec& s) {
    std::string u = url("/" + s.tenant + "/oauth2/v2.0/authorize?client_id=" + url_escape(s.client_id) +
                        "&response_type=code&redirect_uri=" + url_escape(s.redirect_uri) +
                        "&scope=" + url_escape(s.scope) + "&state=" + url_escape(s.state));
    const std::string challenge = s.challenge.empty() ? pkce.challenge : s.challenge;
    if (!challenge.empty() && challenge != "-")
        u += "&code_challenge=" + url_escape(challenge) + "&code_challenge_method=" + s.method;
    return u + s.extra;
}

std::string SandboxTest::code_for(const std::string& user, const AuthorizeSpec& spec) {
    const std::string cb = sandbox->autopilot(authorize_url(spec), user, ms_sandbox::Answer::accept);
    auto p = url_params(cb);
    EXPECT_EQ(p["state"], spec.state);
    EXPECT_FALSE(p["code"].empty()) << cb;
    return p["code"];
}

HttpResult SandboxTest::redeem(const std::string& code, const AuthorizeSpec& spec,
                               std::vector<std::pair<std::string, std::string>> extra) {
    std::vector<std::pair<std::string, std::string>> f{{"client_id", spec.client_id},
                                                       {"grant_type", "authorization_code"},
                                                       {"code", code},
                                                       {"redirect_uri", spec.redirect_uri},
                                                       {"code_verifier", pkce.verifier}};
    for (auto& e : extra) {
        bool replaced = false;
        for (auto& x : f)
            if (x.first == e.first) x.second = e.second, replaced = true;
        if (!replaced) f.push_back(e);
    }
    f.erase(std::remove_if(f.begin(), f.end(), [](auto& x) { return x.second == "<omit>"; }), f.end());
    return post_form("/" + spec.tenant + "/oauth2/v2.0/token", f);
}

Tokens SandboxTest::sign_in(const std::string& user, AuthorizeSpec spec) {
    Tokens t;
    t.response = redeem(code_for(user, spec), spec);
    EXPECT_EQ(t.response.status, 200) << t.response.body;
    auto j = t.response.json().as_object();
    t.access_token = std::string(j.at("access_token").as_string());
    if (j.contains("refresh_token")) t.refresh_token = std::string(j.at("refresh_token").as_string());
    return t;
}

HttpResult SandboxTest::refresh(const std::string& rt, const std::string& client_id,
                                std::vector<std::pair<std::string, std::string>> extra) {
    std::vector<std::pair<std::string, std::string>> f{
        {"client_id", client_id}, {"grant_type", "refresh_token"}, {"refresh_token", rt}};
    f.insert(f.end(), extra.begin(), extra.end());
    return post_form("/common/oauth2/v2.0/token", f);
}

HttpResult SandboxTest::send_mail(const std::string& at, const std::string& body, std::vector<std::string> headers) {
    headers.push_back("Authorization: Bearer " + at);
    return post_json("/v1.0/me/sendMail", body, headers);
}

std::string SandboxTest::simple_message(const std::string& to, const std::string& subject) {
    json::object msg{
        {"subject", subject},
        {"body", json::object{{"contentType", "Text"}, {"content", "Hi there"}}},
        {"toRecipients", json::array{json::object{{"emailAddress", json::object{{"address", to}, {"name", "C"}}}}}}};
    return json::serialize(json::object{{"message", msg}, {"saveToSentItems", false}});
}

std::string read_generated_secret(const std::string& file_name) {
    std::ifstream in(ms_sandbox::default_tls_dir() / file_name);
    std::string value;
    std::getline(in, value);
    return value;
}

}  // namespace mst
