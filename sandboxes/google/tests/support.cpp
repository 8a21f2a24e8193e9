#include "support.hpp"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <boost/url/parse.hpp>

#include <fstream>
#include <memory>
#include <stdexcept>

namespace gst {

namespace {

std::size_t write_body(char* data, std::size_t size, std::size_t n, void* out) {
    static_cast<std::string*>(out)->append(data, size * n);
    return size * n;
}

std::size_t write_header(char* data, std::size_t size, std::size_t n, void* out) {
    std::string line(data, size * n);
    const auto colon = line.find(':');
    if (colon != std::string::npos) {
        std::string name = line.substr(0, colon);
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        std::string value = line.substr(colon + 1);
        value.erase(0, value.find_first_not_of(' '));
        value.erase(value.find_last_not_of("\r\n") + 1);
        static_cast<HttpResult*>(out)->headers.emplace(name, value);
    }
    return size * n;
}

std::string evp_b64(const std::string& raw) {
    std::string out(4 * ((raw.size() + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(raw.data()), static_cast<int>(raw.size()));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

}  // namespace

std::string HttpResult::header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
}

json::value HttpResult::json() const { return json::parse(body); }

std::string url_escape(const std::string& s) {
    std::unique_ptr<char, decltype(&curl_free)> e(curl_easy_escape(nullptr, s.data(), static_cast<int>(s.size())),
                                                  &curl_free);
    return e.get();
}

std::string form_encode(const Fields& fields) {
    std::string out;
    for (const auto& [k, v] : fields) out += (out.empty() ? "" : "&") + url_escape(k) + "=" + url_escape(v);
    return out;
}

std::map<std::string, std::string> query_params(const std::string& url) {
    std::map<std::string, std::string> out;
    auto parsed = boost::urls::parse_uri_reference(url);
    if (!parsed) return out;
    for (auto p : parsed->params()) out[std::string(p.key)] = std::string(p.value);
    return out;
}

std::string b64url(const std::string& raw) {
    std::string s = evp_b64(raw);
    while (!s.empty() && s.back() == '=') s.pop_back();
    for (char& c : s) c = c == '+' ? '-' : c == '/' ? '_' : c;
    return s;
}

std::string b64url_decode(const std::string& text) {
    std::string s = text;
    for (char& c : s) c = c == '-' ? '+' : c == '_' ? '/' : c;
    while (s.size() % 4) s += '=';
    std::string out(s.size() / 4 * 3, '\0');
    const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(s.data()), static_cast<int>(s.size()));
    if (n < 0) throw std::runtime_error("bad base64url");
    out.resize(static_cast<std::size_t>(n) - (text.size() % 4 == 2 ? 2 : text.size() % 4 == 3 ? 1 : 0));
    return out;
}

std::string sha256(const std::string& data) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
    return std::string(reinterpret_cast<char*>(md), len);
}

json::value verify_with_pem(const std::string& jwt, const std::string& pem_certificate) {
    const auto dot1 = jwt.find('.'), dot2 = jwt.rfind('.');
    if (dot1 == std::string::npos || dot1 == dot2) return nullptr;
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem_certificate.data(), -1), &BIO_free);
    std::unique_ptr<X509, decltype(&X509_free)> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr),
                                                     &X509_free);
    if (!cert) return nullptr;
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    const std::string input = jwt.substr(0, dot2), sig = b64url_decode(jwt.substr(dot2 + 1));
    const bool ok =
        EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, X509_get0_pubkey(cert.get())) == 1 &&
        EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                         reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
    if (!ok) return nullptr;
    return json::parse(b64url_decode(jwt.substr(dot1 + 1, dot2 - dot1 - 1)));
}

std::string default_scenario_text() {
    std::ifstream in(google_sandbox::default_scenario_file());
    return std::string(std::istreambuf_iterator<char>(in), {});
}

void GoogleSandboxTest::SetUp() {
    google_sandbox::Options o;
    o.log_requests = false;
    sandbox = std::make_unique<google_sandbox::Sandbox>(o);
    secret = sandbox->client_secret(kClient);
    verifier = b64url(sha256("verifier-" + std::to_string(reinterpret_cast<std::uintptr_t>(this)))) + "-pkce-1234";
}

HttpResult GoogleSandboxTest::request(const std::string& method, const std::string& path, const std::string& body,
                                      std::vector<std::string> headers) {
    HttpResult r;
    std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> h(curl_easy_init(), &curl_easy_cleanup);
    const std::string target = url(path);
    const std::string ca = sandbox->ca_file().string();
    curl_easy_setopt(h.get(), CURLOPT_URL, target.c_str());
    curl_easy_setopt(h.get(), CURLOPT_CAINFO, ca.c_str());
    curl_easy_setopt(h.get(), CURLOPT_CUSTOMREQUEST, method.c_str());
    if (method != "GET") {
        curl_easy_setopt(h.get(), CURLOPT_POSTFIELDS, body.data());
        curl_easy_setopt(h.get(), CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    }
    curl_slist* list = nullptr;
    headers.push_back("Expect:");
    for (const auto& hd : headers) list = curl_slist_append(list, hd.c_str());
    curl_easy_setopt(h.get(), CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(h.get(), CURLOPT_WRITEFUNCTION, write_body);
    curl_easy_setopt(h.get(), CURLOPT_WRITEDATA, &r.body);
    curl_easy_setopt(h.get(), CURLOPT_HEADERFUNCTION, write_header);
    curl_easy_setopt(h.get(), CURLOPT_HEADERDATA, &r);
    curl_easy_setopt(h.get(), CURLOPT_TIMEOUT_MS, 30000L);
    const CURLcode rc = curl_easy_perform(h.get());
    curl_slist_free_all(list);
    if (rc != CURLE_OK) throw std::runtime_error(std::string("curl: ") + curl_easy_strerror(rc));
    curl_easy_getinfo(h.get(), CURLINFO_RESPONSE_CODE, &r.status);
    return r;
}

HttpResult GoogleSandboxTest::post_form(const std::string& path, const Fields& fields,
                                        std::vector<std::string> headers) {
    headers.push_back("Content-Type: application/x-www-form-urlencoded");
    return request("POST", path, form_encode(fields), std::move(headers));
}

std::string GoogleSandboxTest::authorize_path(const AuthorizeSpec& spec) {
    return "/o/oauth2/v2/auth?" +
           form_encode({{"client_id", spec.client_id},
                        {"redirect_uri", spec.redirect_uri},
                        {"response_type", "code"},
                        {"scope", spec.scope},
                        {"state", "st-42"},
                        {"nonce", "n-0S6"},
                        {"code_challenge", b64url(sha256(verifier))},
                        {"code_challenge_method", "S256"}}) +
           spec.extra;
}

std::map<std::string, std::string> GoogleSandboxTest::callback_for(const std::string& user, const AuthorizeSpec& spec,
                                                                   std::set<std::string> untick) {
    google_sandbox::AutopilotRequest r;
    r.authorize_url = authorize_path(spec);
    r.user = user;
    r.untick = std::move(untick);
    const auto result = sandbox->autopilot(r);
    if (!result.callback_url) throw std::runtime_error("no callback: " + result.error_code);
    return query_params(*result.callback_url);
}

HttpResult GoogleSandboxTest::redeem(const std::string& code, Fields extra) {
    Fields f{{"code", code},
             {"client_id", kClient},
             {"client_secret", secret},
             {"redirect_uri", kRedirect},
             {"grant_type", "authorization_code"},
             {"code_verifier", verifier}};
    for (auto& e : extra) {
        auto it = std::find_if(f.begin(), f.end(), [&](const auto& x) { return x.first == e.first; });
        if (it != f.end())
            it->second = e.second;
        else
            f.push_back(e);
    }
    f.erase(std::remove_if(f.begin(), f.end(), [](const auto& x) { return x.second == "<omit>"; }), f.end());
    return post_form("/token", f);
}

json::object GoogleSandboxTest::sign_in(const std::string& user, const AuthorizeSpec& spec,
                                        std::set<std::string> untick) {
    auto cb = callback_for(user, spec, std::move(untick));
    auto r = redeem(cb.at("code"), {{"client_id", spec.client_id}});
    if (r.status != 200) throw std::runtime_error("token: " + r.body);
    return r.json().as_object();
}

HttpResult GoogleSandboxTest::refresh(const std::string& refresh_token, const std::string& client_id) {
    return post_form("/token", {{"grant_type", "refresh_token"},
                                {"refresh_token", refresh_token},
                                {"client_id", client_id},
                                {"client_secret", secret}});
}

HttpResult GoogleSandboxTest::send_raw(const std::string& access_token, const std::string& msg) {
    const std::string body = json::serialize(json::object{{"raw", b64url(msg)}});
    return request("POST", "/gmail/v1/users/me/messages/send", body,
                   {"Authorization: Bearer " + access_token, "Content-Type: application/json"});
}

std::string GoogleSandboxTest::message(const std::string& to, const std::string& subject) {
    return "From: Recruiter <alan@acme.example>\r\nTo: " + to + "\r\nSubject: " + subject +
           "\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nA nudge.\r\n";
}

}  // namespace gst
