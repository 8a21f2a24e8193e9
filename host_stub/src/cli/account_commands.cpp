// The commands on one provider account: connect, complete, status, check, disconnect, send.
#include "cli/cli_support.hpp"

#include "core/host_util.hpp"
#include "providers/documents.hpp"

#include <email_provider/message.hpp>

#include <boost/json.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>

namespace cli {
namespace {

namespace json = boost::json;
using host::json_str;

// All attachments of one send together; far above what providers accept (a few MB per
// request), low enough that a mistaken --attach cannot exhaust memory.
constexpr std::size_t kMaxAttachmentBytes = 20 << 20;

std::string describe_status(const host::ProviderStatus& s) {
    auto join = [](const std::vector<std::string>& items) {
        std::string out;
        for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
        return out;
    };
    switch (s.state) {
        case host::ConnectionState::connected:
            return "connected as " + s.mailbox + (s.display_name.empty() ? "" : " (" + s.display_name + ")") +
                   (s.extra_permissions.empty() ? "" : "; also granted but unused: " + join(s.extra_permissions));
        case host::ConnectionState::permission_denied:
            return "permission denied: " + s.message;
        case host::ConnectionState::expired:
            return "expired: " + s.message;
        case host::ConnectionState::admin_approval_required: {
            std::string text = "approval required: " + (s.user_action.empty() ? s.message : s.user_action);
            if (!s.admin_instructions.empty()) text += "\nfor your IT administrator: " + s.admin_instructions;
            if (!s.application_id.empty()) text += "\napplication id: " + s.application_id;
            if (!s.admin_consent_url.empty()) text += "\nadmin approval link: " + s.admin_consent_url;
            return text;
        }
        case host::ConnectionState::configuration_error:
            return "configuration error (operator): " + s.message;
        case host::ConnectionState::not_connected:
            return "not connected";
        case host::ConnectionState::unknown:
            break;
    }
    return s.state_name.empty() ? "unknown status" : s.state_name;
}

// Reads one --attach file: a regular file of at most `limit` bytes. Opened without blocking
// (a FIFO would otherwise wait for a writer) and checked on the open descriptor.
std::string read_attachment(const std::string& file, std::size_t limit) {
    int fd = ::open(file.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) throw std::runtime_error("--attach " + file + ": cannot be read: " + std::strerror(errno));
    std::string bytes;
    try {
        struct stat st {};
        if (::fstat(fd, &st) != 0)
            throw std::runtime_error("--attach " + file + ": cannot be read: " + std::strerror(errno));
        if (!S_ISREG(st.st_mode))
            throw std::runtime_error("--attach " + file + ": is not a regular file (a directory, device or pipe)");
        if (static_cast<std::size_t>(st.st_size) > limit)
            throw std::runtime_error("--attach " + file + ": is larger than the " + std::to_string(limit >> 20) +
                                     " MiB all attachments may take together");
        char buf[65536];
        for (;;) {
            ssize_t n = ::read(fd, buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) throw std::runtime_error("--attach " + file + ": cannot be read: " + std::strerror(errno));
            if (n == 0) break;
            bytes.append(buf, static_cast<std::size_t>(n));
            if (bytes.size() > limit)  // grew while we read it
                throw std::runtime_error("--attach " + file + ": is larger than the " + std::to_string(limit >> 20) +
                                         " MiB all attachments may take together");
        }
    } catch (...) {
        ::close(fd);
        throw;
    }
    ::close(fd);
    return bytes;
}

int complete(host::HostRuntime& rt, const GlobalOptions& o, const std::string& user_id, const std::string& provider,
             const std::string& callback_url) {
    auto r = rt.providers->require(provider)->complete_connect(
        user_id, json::serialize(json::object{{"callback_url", callback_url}}));
    if (!r.result.ok()) return fail_call(r, "complete connect");
    std::string outcome = json_str(r.document, "outcome");
    std::string message = json_str(r.document, "message");
    print(o, r.result.document, outcome + (message.empty() ? "" : ": " + message) + "\n" + describe_status(r.status()));
    return host::connect_outcome_from(outcome) == host::ConnectOutcome::connected ? kOk : kNotSuccessful;
}

std::string content_type_for(const std::filesystem::path& p) {
    static const std::map<std::string, std::string> types = {
        {".pdf", "application/pdf"},
        {".txt", "text/plain"},
        {".html", "text/html"},
        {".png", "image/png"},
        {".jpg", "image/jpeg"},
        {".jpeg", "image/jpeg"},
        {".gif", "image/gif"},
        {".csv", "text/csv"},
        {".ics", "text/calendar"},
        {".zip", "application/zip"},
        {".json", "application/json"},
        {".doc", "application/msword"},
        {".docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"}};
    auto it = types.find(p.extension().string());
    return it == types.end() ? "application/octet-stream" : it->second;
}

json::array address_array(const po::variables_map& vm, const char* name) {
    json::array a;
    if (vm.count(name))
        for (const auto& addr : vm[name].as<std::vector<std::string>>()) a.push_back(json::object{{"address", addr}});
    return a;
}

// The ep.message/1 that send's options describe (attachments read and encoded).
json::object message_from(const po::variables_map& vm) {
    json::object m{{"to", address_array(vm, "to")},
                   {"cc", address_array(vm, "cc")},
                   {"bcc", address_array(vm, "bcc")},
                   {"reply_to", address_array(vm, "reply-to")},
                   {"subject", vm["subject"].as<std::string>()}};
    if (vm.count("text")) m["text"] = vm["text"].as<std::string>();
    if (vm.count("html")) m["html"] = vm["html"].as<std::string>();
    if (vm.count("importance")) m["importance"] = vm["importance"].as<std::string>();
    if (vm.count("no-save-to-sent-items")) m["save_to_sent_items"] = false;
    if (vm.count("client-request-id")) m["client_request_id"] = vm["client-request-id"].as<std::string>();
    if (vm.count("header")) {
        json::array headers;
        for (const auto& h : vm["header"].as<std::vector<std::string>>()) {
            auto colon = h.find(':');
            if (colon == std::string::npos) throw UsageError("--header \"" + h + "\" must look like \"x-name: value\"");
            std::string value = h.substr(colon + 1);
            value.erase(0, value.find_first_not_of(' '));
            headers.push_back(json::object{{"name", h.substr(0, colon)}, {"value", value}});
        }
        m["headers"] = headers;
    }
    if (vm.count("attach")) {
        json::array attachments;
        std::size_t budget = kMaxAttachmentBytes;
        for (const auto& f : vm["attach"].as<std::vector<std::string>>()) {
            std::string bytes = read_attachment(f, budget);
            budget -= bytes.size();
            std::filesystem::path p(f);
            attachments.push_back(json::object{{"name", p.filename().string()},
                                               {"content_type", content_type_for(p)},
                                               {"content_base64", ep::message::base64_encode(bytes)}});
        }
        m["attachments"] = attachments;
    }
    return m;
}

}  // namespace

int cmd_connect(host::HostRuntime& rt, const GlobalOptions& o, const std::vector<std::string>& args) {
    auto desc = account_options("connect");
    desc.add_options()("login-hint", po::value<std::string>(), "")("prompt", po::value<std::string>(), "")(
        "callback", po::value<std::string>(), "")("admin-consent", "")("tenant", po::value<std::string>(), "");
    auto vm = parse(args, desc);
    std::string provider = vm["provider"].as<std::string>(), account = vm["account"].as<std::string>();
    json::object request;
    if (vm.count("login-hint")) request["login_hint"] = vm["login-hint"].as<std::string>();
    if (vm.count("prompt")) request["prompt"] = vm["prompt"].as<std::string>();
    if (vm.count("tenant")) request["tenant"] = vm["tenant"].as<std::string>();
    const bool admin_consent = vm.count("admin-consent") > 0;
    if (admin_consent) request["admin_consent"] = true;

    auto r = rt.providers->require(provider)->begin_connect(account, json::serialize(request));
    if (!r.result.ok()) return fail_call(r, admin_consent ? "admin consent" : "connect");
    const json::object& doc = r.document;
    if (admin_consent) {
        // Only the link for an IT administrator: nothing to complete here.
        if (json_str(doc, "purpose") != "admin_consent") {
            std::fprintf(stderr, "host_stub: provider '%s' has no admin-consent link\n", provider.c_str());
            return kNotSuccessful;
        }
        print(o, r.result.document,
              "Send this link to the organisation's IT administrator (application " + json_str(doc, "application_id") +
                  "):\n" + json_str(doc, "authorization_url"));
        return kOk;
    }
    if (json_str(doc, "action") != "redirect") {
        host::ProviderStatus status = r.status();
        print(o, r.result.document, describe_status(status));
        return status.state == host::ConnectionState::connected ? kOk : kNotSuccessful;
    }
    std::string url = json_str(doc, "authorization_url");
    std::string callback;
    if (vm.count("callback")) {
        callback = vm["callback"].as<std::string>();
    } else {
        std::cerr << "Open this address in a browser, sign in, and paste the address you are sent back to:\n";
        std::cout << url << std::endl;
        if (!std::getline(std::cin, callback) || callback.empty()) {
            std::fprintf(stderr, "host_stub: no callback URL was given; run `host_stub complete` with it later\n");
            return kNotSuccessful;
        }
    }
    return complete(rt, o, account, provider, callback);
}

int cmd_complete(host::HostRuntime& rt, const GlobalOptions& o, const std::vector<std::string>& args) {
    auto desc = account_options("complete");
    desc.add_options()("callback", po::value<std::string>()->required(), "");
    auto vm = parse(args, desc);
    return complete(rt, o, vm["account"].as<std::string>(), vm["provider"].as<std::string>(),
                    vm["callback"].as<std::string>());
}

int cmd_status(host::HostRuntime& rt, const GlobalOptions& o, const std::vector<std::string>& args) {
    auto vm = parse(args, account_options("status"));
    std::string provider = vm["provider"].as<std::string>(), account = vm["account"].as<std::string>();
    std::string document, text;
    try {
        host::ProviderStatus s = rt.providers->require(provider)->status(account);
        document = json::serialize(s.document);
        text = describe_status(s);
    } catch (const host::StatusUnreadable& e) {
        if (!e.answer().result.ok()) return fail_call(e.answer(), "status");
        document = e.answer().result.document;  // accepted, but no status: shown as it came
        text = "unknown status";
    }
    if (int64_t at = rt.store->last_checked(account, provider))
        text += "\nlast checked with the provider at " + host::iso_time(at);
    print(o, document, text);
    return kOk;
}

// Asks the provider to check the connection with its service now (ABI 1.1; a 1.0 provider
// answers its last known status). Exit 0 only when it is connected.
int cmd_check(host::HostRuntime& rt, const GlobalOptions& o, const std::vector<std::string>& args) {
    auto vm = parse(args, account_options("check"));
    json::object s = rt.checks->check_now(vm["account"].as<std::string>(), vm["provider"].as<std::string>());
    host::ProviderStatus status = host::parse_status(s);
    std::string text = describe_status(status);
    if (auto* failed = s.if_contains("check_failed"))
        text += "\ncheck failed, last known state shown: " + json_str(*failed, "message");
    else if (std::string at = json_str(s, "checked_at"); !at.empty())
        text += "\nchecked at " + at;
    else
        text += "\nthis provider cannot check with its service (ABI 1.0): last known state";
    print(o, json::serialize(s), text);
    return status.state == host::ConnectionState::connected ? kOk : kNotSuccessful;
}

int cmd_disconnect(host::HostRuntime& rt, const GlobalOptions& o, const std::vector<std::string>& args) {
    auto vm = parse(args, account_options("disconnect"));
    auto r = rt.providers->require(vm["provider"].as<std::string>())->disconnect(vm["account"].as<std::string>());
    if (!r.result.ok()) return fail_call(r, "disconnect");
    std::string text = json_str(r.document, "message");
    if (text.empty()) text = "disconnected: every stored token for this account was deleted";
    if (std::string revoke = json_str(r.document, "revoke_url");
        !revoke.empty() && text.find(revoke) == std::string::npos)
        text += "\nTo also remove the app's access at the provider, visit " + revoke;
    print(o, r.result.document, text);
    return kOk;
}

int cmd_send(host::HostRuntime& rt, const GlobalOptions& o, const std::vector<std::string>& args) {
    auto desc = account_options("send");
    desc.add_options()("to", po::value<std::vector<std::string>>(), "")(
        "cc", po::value<std::vector<std::string>>(), "")("bcc", po::value<std::vector<std::string>>(), "")(
        "reply-to", po::value<std::vector<std::string>>(), "")("subject", po::value<std::string>()->required(), "")(
        "text", po::value<std::string>(), "")("html", po::value<std::string>(), "")(
        "attach", po::value<std::vector<std::string>>(), "")("header", po::value<std::vector<std::string>>(), "")(
        "importance", po::value<std::string>(), "")("no-save-to-sent-items", "")("client-request-id",
                                                                                 po::value<std::string>(), "");
    auto vm = parse(args, desc);
    json::object m = message_from(vm);
    auto r = rt.providers->require(vm["provider"].as<std::string>())
                 ->send_blocking(vm["account"].as<std::string>(), json::serialize(m));
    const json::object& doc = r.document;
    std::string outcome = json_str(doc, "outcome");
    if (outcome.empty()) return fail_call(r, "send");
    const bool sent = host::send_outcome_from(outcome) == host::SendOutcome::sent;
    std::string text = outcome;
    if (std::string msg = json_str(doc, "message"); !msg.empty()) text += ": " + msg;
    if (std::string field = json_str(doc, "field"); !field.empty()) text += " (field " + field + ")";
    if (std::string id = json_str(doc, "request_id"); !id.empty()) text += " [request-id " + id + "]";
    if (std::string file = json_str(doc, "file"); !file.empty()) text += " -> " + file;
    if (o.json)
        std::cout << r.result.document << "\n";
    else
        (sent ? std::cout : std::cerr) << (sent ? "" : "host_stub: send ") << text << "\n";
    return sent ? kOk : kNotSuccessful;
}

}  // namespace cli
