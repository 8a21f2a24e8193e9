#include "cli/cli_commands.hpp"

#include "providers/documents.hpp"
#include "core/host_runtime.hpp"
#include "core/host_util.hpp"
#include "web/web_app.hpp"
#include "web/web_server.hpp"

#include <email_provider/message.hpp>

#include <boost/json.hpp>
#include <boost/program_options.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <optional>

namespace cli {
namespace {

namespace po = boost::program_options;
using host::json_str;
using host::printable;
namespace json = boost::json;

constexpr int kOk = 0, kError = 1, kUsage = 2, kNotSuccessful = 3;
// All attachments of one send together; far above what providers accept (a few MB per
// request), low enough that a mistaken --attach cannot exhaust memory.
constexpr std::size_t kMaxAttachmentBytes = 20 << 20;

struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

po::variables_map parse(const std::vector<std::string>& args, const po::options_description& desc) {
    po::variables_map vm;
    try {
        po::store(po::command_line_parser(args).options(desc).run(), vm);
        po::notify(vm);
    } catch (const po::error& e) {
        throw UsageError(e.what());
    }
    return vm;
}

po::options_description account_options(const char* name) {
    po::options_description d(name);
    d.add_options()("provider", po::value<std::string>()->required(), "provider id")(
        "account", po::value<std::string>()->required(), "host account id");
    return d;
}

json::value parse_document(const std::string& text) {
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    return ec ? json::value(nullptr) : v;
}

// The one-line reason of a failed call: the plugin's error message, else the status.
std::string reason(const ep::host::CallResult& r) {
    json::value doc = parse_document(r.document);
    if (doc.is_object() && doc.as_object().contains("error")) {
        std::string msg = json_str(doc.as_object()["error"], "message");
        if (!msg.empty()) return msg;
    }
    return "provider returned status " + std::to_string(r.status);
}

std::string describe_status(const json::value& doc) {
    host::ProviderStatus s = host::parse_status(doc);
    auto join = [](const std::vector<std::string>& items) {
        std::string out;
        for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
        return out;
    };
    switch (s.state) {
        case host::ConnectionState::connected:
            return "connected as " + s.email + (s.display_name.empty() ? "" : " (" + s.display_name + ")") +
                   (s.extra_permissions.empty() ? "" : "; also granted but unused: " + join(s.extra_permissions));
        case host::ConnectionState::permission_denied: return "permission denied: " + s.message;
        case host::ConnectionState::expired: return "expired: " + s.message;
        case host::ConnectionState::admin_approval_required: {
            std::string text = "approval required: " + (s.user_action.empty() ? s.message : s.user_action);
            if (!s.admin_instructions.empty()) text += "\nfor your IT administrator: " + s.admin_instructions;
            if (!s.application_id.empty()) text += "\napplication id: " + s.application_id;
            if (!s.admin_consent_url.empty()) text += "\nadmin approval link: " + s.admin_consent_url;
            return text;
        }
        case host::ConnectionState::configuration_error: return "configuration error (operator): " + s.message;
        case host::ConnectionState::not_connected: return "not connected";
        case host::ConnectionState::unknown: break;
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
        if (::fstat(fd, &st) != 0) throw std::runtime_error("--attach " + file + ": cannot be read: " + std::strerror(errno));
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

void print(const GlobalOptions& o, const std::string& document, const std::string& text) {
    if (o.json) std::cout << document << "\n";
    else std::cout << text << "\n";
}

int fail_call(const ep::host::CallResult& r, const std::string& what) {
    std::fprintf(stderr, "host_stub: %s failed: %s\n", what.c_str(), reason(r).c_str());
    return kError;
}

// ---- commands ---------------------------------------------------------------------------

int cmd_providers(host::HostRuntime& rt, const GlobalOptions& o) {
    json::array list;
    for (const auto& e : rt.providers->entries()) {
        json::object p{{"id", e.id}, {"display_name", e.display_name}, {"manifest", e.manifest_path.string()},
                       {"available", e.available()}};
        if (e.loaded) {
            p["abi_version"] = std::to_string(e.loaded->abi_major) + "." + std::to_string(e.loaded->abi_minor);
            p["provider_version"] = e.loaded->provider_version;
        }
        if (!e.error.empty()) p["error"] = e.error;
        list.push_back(std::move(p));
    }
    if (o.json) {
        std::cout << json::serialize(json::object{{"providers", list}}) << "\n";
        return kOk;
    }
    for (const auto& v : list) {
        const auto& p = v.as_object();
        if (p.at("available").as_bool())
            std::cout << printable(json_str(v, "id")) << "\t" << printable(json_str(v, "display_name")) << "\tABI "
                      << json_str(v, "abi_version") << "\n";
        else
            std::cout << (json_str(v, "id").empty() ? "?" : printable(json_str(v, "id"))) << "\tunavailable\t"
                      << printable(json_str(v, "error")) << "\n";
    }
    return kOk;
}

int complete(host::HostRuntime& rt, const GlobalOptions& o, const std::string& provider, const std::string& account,
             const std::string& callback_url) {
    auto inst = rt.providers->instance(provider);
    auto r = inst->complete_connect(account, json::serialize(json::object{{"callback_url", callback_url}}));
    if (!r.ok()) return fail_call(r, "complete connect");
    json::value doc = parse_document(r.document);
    std::string outcome = json_str(doc, "outcome");
    std::string message = json_str(doc, "message");
    json::value status = doc.is_object() && doc.as_object().contains("status") ? doc.as_object()["status"] : json::value();
    print(o, r.document, outcome + (message.empty() ? "" : ": " + message) + "\n" + describe_status(status));
    return host::connect_outcome_from(outcome) == host::ConnectOutcome::connected ? kOk : kNotSuccessful;
}

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

    auto r = rt.providers->instance(provider)->begin_connect(account, json::serialize(request));
    if (!r.ok()) return fail_call(r, admin_consent ? "admin consent" : "connect");
    json::value doc = parse_document(r.document);
    if (admin_consent) {
        // Only the link for an IT administrator: nothing to complete here.
        if (json_str(doc, "purpose") != "admin_consent") {
            std::fprintf(stderr, "host_stub: provider '%s' has no admin-consent link\n", provider.c_str());
            return kNotSuccessful;
        }
        print(o, r.document, "Send this link to the organisation's IT administrator (application " +
                                 json_str(doc, "application_id") + "):\n" + json_str(doc, "authorization_url"));
        return kOk;
    }
    if (json_str(doc, "action") != "redirect") {
        json::value status = doc.as_object().contains("status") ? doc.as_object()["status"] : json::value();
        print(o, r.document, describe_status(status));
        return host::parse_status(status).state == host::ConnectionState::connected ? kOk : kNotSuccessful;
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
    return complete(rt, o, provider, account, callback);
}

int cmd_complete(host::HostRuntime& rt, const GlobalOptions& o, const std::vector<std::string>& args) {
    auto desc = account_options("complete");
    desc.add_options()("callback", po::value<std::string>()->required(), "");
    auto vm = parse(args, desc);
    return complete(rt, o, vm["provider"].as<std::string>(), vm["account"].as<std::string>(),
                    vm["callback"].as<std::string>());
}

int cmd_status(host::HostRuntime& rt, const GlobalOptions& o, const std::vector<std::string>& args) {
    auto vm = parse(args, account_options("status"));
    auto r = rt.providers->instance(vm["provider"].as<std::string>())->status(vm["account"].as<std::string>());
    if (!r.ok()) return fail_call(r, "status");
    std::string text = describe_status(parse_document(r.document));
    if (int64_t at = rt.store->last_checked(vm["account"].as<std::string>(), vm["provider"].as<std::string>()))
        text += "\nlast checked with the provider at " + host::iso_time(at);
    print(o, r.document, text);
    return kOk;
}

// Asks the provider to check the connection with its service now (ABI 1.1; a 1.0 provider
// answers its last known status). Exit 0 only when it is connected.
int cmd_check(host::HostRuntime& rt, const GlobalOptions& o, const std::vector<std::string>& args) {
    auto vm = parse(args, account_options("check"));
    json::object s = rt.checks->check_now(vm["account"].as<std::string>(), vm["provider"].as<std::string>());
    std::string text = describe_status(s);
    if (auto* failed = s.if_contains("check_failed"))
        text += "\ncheck failed, last known state shown: " + json_str(*failed, "message");
    else if (std::string at = json_str(s, "checked_at"); !at.empty())
        text += "\nchecked at " + at;
    else
        text += "\nthis provider cannot check with its service (ABI 1.0): last known state";
    print(o, json::serialize(s), text);
    return host::parse_status(s).state == host::ConnectionState::connected ? kOk : kNotSuccessful;
}

int cmd_disconnect(host::HostRuntime& rt, const GlobalOptions& o, const std::vector<std::string>& args) {
    auto vm = parse(args, account_options("disconnect"));
    auto r = rt.providers->instance(vm["provider"].as<std::string>())->disconnect(vm["account"].as<std::string>());
    if (!r.ok()) return fail_call(r, "disconnect");
    json::value doc = parse_document(r.document);
    std::string text = json_str(doc, "message");
    if (text.empty()) text = "disconnected: every stored token for this account was deleted";
    if (std::string revoke = json_str(doc, "revoke_url"); !revoke.empty() && text.find(revoke) == std::string::npos)
        text += "\nTo also remove the app's access at the provider, visit " + revoke;
    print(o, r.document, text);
    return kOk;
}

std::string content_type_for(const std::filesystem::path& p) {
    static const std::map<std::string, std::string> types = {
        {".pdf", "application/pdf"}, {".txt", "text/plain"},  {".html", "text/html"},   {".png", "image/png"},
        {".jpg", "image/jpeg"},      {".jpeg", "image/jpeg"}, {".gif", "image/gif"},    {".csv", "text/csv"},
        {".ics", "text/calendar"},   {".zip", "application/zip"}, {".json", "application/json"},
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

int cmd_send(host::HostRuntime& rt, const GlobalOptions& o, const std::vector<std::string>& args) {
    auto desc = account_options("send");
    desc.add_options()("to", po::value<std::vector<std::string>>(), "")("cc", po::value<std::vector<std::string>>(), "")(
        "bcc", po::value<std::vector<std::string>>(), "")("reply-to", po::value<std::vector<std::string>>(), "")(
        "subject", po::value<std::string>()->required(), "")("text", po::value<std::string>(), "")(
        "html", po::value<std::string>(), "")("attach", po::value<std::vector<std::string>>(), "")(
        "header", po::value<std::vector<std::string>>(), "")("importance", po::value<std::string>(), "")(
        "no-save-to-sent-items", "")("client-request-id", po::value<std::string>(), "");
    auto vm = parse(args, desc);

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

    auto r = rt.providers->instance(vm["provider"].as<std::string>())
                 ->send_blocking(vm["account"].as<std::string>(), json::serialize(m));
    json::value doc = parse_document(r.document);
    std::string outcome = json_str(doc, "outcome");
    if (outcome.empty()) return fail_call(r, "send");
    const bool sent = host::send_outcome_from(outcome) == host::SendOutcome::sent;
    std::string text = outcome;
    if (std::string msg = json_str(doc, "message"); !msg.empty()) text += ": " + msg;
    if (std::string field = json_str(doc, "field"); !field.empty()) text += " (field " + field + ")";
    if (std::string id = json_str(doc, "request_id"); !id.empty()) text += " [request-id " + id + "]";
    if (std::string file = json_str(doc, "file"); !file.empty()) text += " -> " + file;
    if (o.json) std::cout << r.document << "\n";
    else (sent ? std::cout : std::cerr) << (sent ? "" : "host_stub: send ") << text << "\n";
    return sent ? kOk : kNotSuccessful;
}

int cmd_delete_user(host::HostRuntime& rt, const GlobalOptions& o, const std::vector<std::string>& args) {
    po::options_description desc("delete-user");
    desc.add_options()("user", po::value<std::string>()->required(), "host user id");
    auto vm = parse(args, desc);
    std::string user = vm["user"].as<std::string>();
    if (!rt.store->user(user)) throw std::runtime_error("no host user '" + user + "': nothing was deleted");
    rt.delete_user(user);
    print(o, json::serialize(json::object{{"deleted", user}}),
          "deleted user " + user + ": every provider forgot the account and its stored tokens");
    return kOk;
}

int cmd_settings(host::HostRuntime& rt, const GlobalOptions& o, const std::vector<std::string>& args) {
    po::options_description desc("settings");
    desc.add_options()("user", po::value<std::string>()->required(), "")("channel", po::value<std::string>(), "")(
        "email-provider", po::value<std::string>(), "");
    auto vm = parse(args, desc);
    std::string user = vm["user"].as<std::string>();
    if (!rt.store->user(user)) throw std::runtime_error("no host user '" + user + "' (users come from the host config)");
    host::CommunicationSettings s = rt.store->settings(user);
    if (vm.count("channel")) {
        if (vm["channel"].as<std::string>() != "email") throw UsageError("--channel: only \"email\" is supported");
        s.preferred_channel = "email";
    }
    if (vm.count("email-provider")) {
        std::string p = vm["email-provider"].as<std::string>();
        rt.providers->instance(p);  // throws, saying why, when unavailable
        s.email_provider = p;
    }
    rt.store->save_settings(user, s);
    print(o, json::serialize(json::object{{"user", user}, {"preferred_channel", s.preferred_channel}, {"email_provider", s.email_provider}}),
          user + ": preferred channel " + s.preferred_channel + ", email provider " +
              (s.email_provider.empty() ? "(none)" : s.email_provider));
    return kOk;
}

// Queues a nudge in the durable outbox (sent by `serve`'s worker, like the settings page's).
int cmd_nudge(host::HostRuntime& rt, const GlobalOptions& o, const std::vector<std::string>& args) {
    po::options_description desc("nudge");
    desc.add_options()("user", po::value<std::string>()->required(), "")("to", po::value<std::string>()->required(), "")(
        "subject", po::value<std::string>()->required(), "")("text", po::value<std::string>()->required(), "");
    auto vm = parse(args, desc);
    json::object message{{"to", json::array{json::object{{"address", vm["to"].as<std::string>()}}}},
                         {"subject", vm["subject"].as<std::string>()},
                         {"text", vm["text"].as<std::string>()}};
    int64_t id = rt.outbox->enqueue(vm["user"].as<std::string>(), std::move(message));
    print(o, json::serialize(json::object{{"id", id}}), "queued nudge " + std::to_string(id));
    return kOk;
}

sigset_t serve_signals() {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGHUP);
    return signals;
}

int64_t nudge_id_option(const po::variables_map& vm) {
    int64_t id = vm["id"].as<int64_t>();
    if (id <= 0) throw UsageError("--id " + std::to_string(id) + ": a nudge id is a positive number (see `outbox --user ID`)");
    return id;
}

// An operator's decision on one nudge: `outbox requeue --id N` sends a held (stranded) nudge
// with its user's current provider and mailbox; `outbox fail --id N` gives up on it.
int cmd_outbox_decision(host::HostRuntime& rt, const GlobalOptions& o, const std::string& action,
                        const std::vector<std::string>& args) {
    po::options_description desc("outbox " + action);
    desc.add_options()("id", po::value<int64_t>()->required(), "nudge id");
    if (action == "fail") desc.add_options()("reason", po::value<std::string>()->default_value("no reason given"), "");
    auto vm = parse(args, desc);
    int64_t id = nudge_id_option(vm);
    auto n = rt.store->nudge(id);
    if (!n) throw std::runtime_error("there is no nudge " + std::to_string(id) + " (see `outbox --user ID`)");
    if (action == "requeue") rt.outbox->requeue(id, n->user_id);
    else rt.outbox->fail(id, n->user_id, "failed_by_operator", "Failed by an operator: " + vm["reason"].as<std::string>());
    auto after = rt.store->nudge(id);
    std::string state = after ? host::to_string(after->state) : "deleted";
    print(o, json::serialize(json::object{{"id", id}, {"state", state}, {"provider", after ? after->provider : ""}}),
          "nudge " + std::to_string(id) + " of " + n->user_id + ": " + state +
              (action == "requeue" ? " via " + (after ? after->provider : std::string("?")) + " (sent by `serve`)" : ""));
    return kOk;
}

int cmd_outbox(host::HostRuntime& rt, const GlobalOptions& o, const std::vector<std::string>& args) {
    if (!args.empty() && (args[0] == "requeue" || args[0] == "fail"))
        return cmd_outbox_decision(rt, o, args[0], {args.begin() + 1, args.end()});
    if (!args.empty() && !args[0].starts_with("-"))
        throw UsageError("outbox: unknown action '" + args[0] + "' (known: requeue, fail; or --user ID to list)");
    po::options_description desc("outbox");
    desc.add_options()("user", po::value<std::string>()->required(), "")("limit", po::value<int>()->default_value(50), "");
    auto vm = parse(args, desc);
    json::array list;
    std::string text;
    for (const auto& n : rt.store->outbox(vm["user"].as<std::string>(), vm["limit"].as<int>())) {
        list.push_back(json::object{{"id", n.id}, {"state", host::to_string(n.state)}, {"to", n.to}, {"subject", n.subject},
                                    {"provider", n.provider}, {"attempts", n.attempts}, {"code", n.last_code},
                                    {"message", n.last_message}, {"client_request_id", n.client_request_id},
                                    {"mailbox", n.mailbox}, {"stranded", host::is_stranded(n)}});
        text += std::to_string(n.id) + "\t" + host::to_string(n.state) + (host::is_stranded(n) ? " (stranded)" : "") + "\t" +
                n.to + "\t" + n.subject + (n.last_message.empty() ? "" : "\t" + n.last_message) + "\n";
    }
    if (o.json) std::cout << json::serialize(json::object{{"outbox", list}}) << "\n";
    else std::cout << (text.empty() ? "(empty)\n" : text);
    return kOk;
}

// Opens --pid-file without following a symbolic link and makes sure it is a regular file, so
// that neither serve nor reload works on a file someone else points it at.
int open_pid_file(const std::string& path, int flags) {
    int fd = ::open(path.c_str(), flags | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0 && errno == ELOOP) throw std::runtime_error("--pid-file " + path + ": is a symbolic link; give the file itself");
    if (fd < 0)
        throw std::runtime_error("--pid-file " + path + ": cannot be " + ((flags & O_CREAT) ? "opened" : "read") + ": " +
                                 std::strerror(errno) + ((flags & O_CREAT) ? "" : " (is serve running with it?)"));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        throw std::runtime_error("--pid-file " + path + ": is not a regular file");
    }
    return fd;
}

// serve's pid file: the running serve holds a POSIX write lock on it for its whole life, and
// `reload` asks the kernel which process holds that lock (F_GETLK), so it signals only a live
// serve, never a pid that the file names (a new serve locks a stale file before it rewrites it).
// A process loses its POSIX locks when it closes any fd of the file: this is its only one.
class PidFile {
public:
    explicit PidFile(const std::string& path) : path_(path) {
        fd_ = open_pid_file(path, O_RDWR | O_CREAT);
        struct flock lock {};
        lock.l_type = F_WRLCK;
        lock.l_whence = SEEK_SET;  // l_start = l_len = 0: the whole file
        if (::fcntl(fd_, F_SETLK, &lock) != 0) {
            ::close(fd_);
            throw std::runtime_error("--pid-file " + path + ": another serve holds it");
        }
        // Informational only: reload trusts the lock holder, not this content.
        std::string pid = std::to_string(getpid()) + "\n";
        if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
            ::close(fd_);
            throw std::runtime_error("--pid-file " + path + ": cannot be written: " + std::strerror(errno));
        }
    }
    ~PidFile() {
        ::unlink(path_.c_str());
        ::close(fd_);
    }
    PidFile(const PidFile&) = delete;
    PidFile& operator=(const PidFile&) = delete;

private:
    std::string path_;
    int fd_ = -1;
};

// Asks the serve that holds --pid-file to reload (SIGHUP). Only a process of the same user
// (or root) may signal it: there is no remote trigger. The config is read and its providers
// loaded here first, so a broken config is refused before the running serve is disturbed.
int cmd_reload(host::HostRuntime& rt, const GlobalOptions& o, const std::vector<std::string>& args) {
    po::options_description desc("reload");
    desc.add_options()("pid-file", po::value<std::string>()->required(), "the file `serve --pid-file` writes");
    auto vm = parse(args, desc);
    for (const auto& e : rt.providers->entries())
        if (!e.available() && e.enabled)
            std::cerr << "host_stub: reload: warning: " << printable(e.error) << "\n";
    std::string path = vm["pid-file"].as<std::string>();
    int fd = open_pid_file(path, O_RDONLY);
    // The kernel names the process that holds serve's write lock: a read lock would conflict.
    struct flock lock {};
    lock.l_type = F_RDLCK;
    lock.l_whence = SEEK_SET;
    int rc = ::fcntl(fd, F_GETLK, &lock);
    int error = errno;
    ::close(fd);
    if (rc != 0) throw std::runtime_error("--pid-file " + path + ": cannot query its lock: " + std::strerror(error));
    if (lock.l_type == F_UNLCK) throw std::runtime_error("--pid-file " + path + ": no serve holds it (a stale file): nothing to reload");
    // 0 when the holder is in another pid namespace, -1 for an open file description lock
    // (not serve's): there is no pid here to signal.
    pid_t pid = lock.l_pid;
    if (pid <= 0)
        throw std::runtime_error("--pid-file " + path +
                                 ": its lock holder has no process id visible here (another pid namespace, or not a serve)");
    if (::kill(pid, SIGHUP) != 0)
        throw std::runtime_error("cannot signal serve (pid " + std::to_string(pid) + "): " + std::strerror(errno));
    print(o, json::serialize(json::object{{"reload_requested", pid}}),
          "asked serve (pid " + std::to_string(pid) + ") to reload " + rt.config.file.string() + "; its log says what changed");
    return kOk;
}

// Runs the settings page and the outbox until SIGINT or SIGTERM (blocked by run_command
// before any thread started, so that this thread alone receives them).
int cmd_serve(host::HostRuntime& rt, const GlobalOptions& o, const std::vector<std::string>& args) {
    po::options_description desc("serve");
    desc.add_options()("port", po::value<int>(), "listen port (overrides web.port; 0 = any free port)")(
        "pid-file", po::value<std::string>(), "where `reload` finds this process");
    auto vm = parse(args, desc);
    std::optional<PidFile> pid_file;
    if (vm.count("pid-file")) pid_file.emplace(vm["pid-file"].as<std::string>());
    uint16_t port = vm.count("port") ? static_cast<uint16_t>(vm["port"].as<int>()) : rt.config.web.port;
    rt.start_outbox();
    // The page needs its public address, which needs the port the server got: a request that
    // arrives before the page exists (possible with a fixed port) is told to retry.
    std::unique_ptr<host::WebApp> app;
    std::atomic<host::WebApp*> ready{nullptr};
    host::WebServerOptions server_options;
    server_options.max_connections = rt.config.web.max_connections;
    server_options.warn = [&rt](const std::string& text) { rt.logger.log(EP_LOG_WARN, "web", text); };
    host::WebServer server(
        rt.config.web.listen_address, port,
        [&ready](const host::WebRequest& r) {
            if (host::WebApp* a = ready.load(std::memory_order_acquire)) return a->handle(r);
            return host::WebResponse{503, {{"Retry-After", "1"}, {"Content-Type", "text/plain"}}, "Starting; try again.\n"};
        },
        std::move(server_options));
    const std::string& listen = rt.config.web.listen_address;
    std::string public_url = rt.config.web.public_url.empty()
                                 ? "http://" + (listen.find(':') != std::string::npos ? "[" + listen + "]" : listen) + ":" +
                                       std::to_string(server.port())
                                 : rt.config.web.public_url;
    app = std::make_unique<host::WebApp>(rt, public_url, server.port());
    ready.store(app.get(), std::memory_order_release);
    if (o.json) std::cout << json::serialize(json::object{{"url", public_url + "/settings/communication"}, {"port", server.port()}}) << std::endl;
    else std::cout << "Settings page: " << public_url << "/settings/communication" << std::endl;
    sigset_t signals = serve_signals();
    int received = 0;
    // SIGHUP reloads the config and manifests (host_stub reload); the others stop.
    while (sigwait(&signals, &received) == 0 && received == SIGHUP) {
        try {
            rt.reload();
        } catch (const std::exception& e) {
            rt.logger.log(EP_LOG_ERROR, "host", std::string("reload refused, the providers are unchanged: ") + e.what());
        }
    }
    std::cerr << "host_stub: stopping (" << (received == SIGINT ? "SIGINT" : "SIGTERM") << ")" << std::endl;
    return kOk;
}

}  // namespace

int run_command(const std::string& command, const std::vector<std::string>& args, const GlobalOptions& options) {
    using Handler = int (*)(host::HostRuntime&, const GlobalOptions&, const std::vector<std::string>&);
    static const std::map<std::string, Handler> commands = {
        {"providers", [](host::HostRuntime& rt, const GlobalOptions& o, const std::vector<std::string>& a) {
             if (!a.empty()) throw UsageError("providers takes no options");
             return cmd_providers(rt, o);
         }},
        {"connect", cmd_connect},
        {"complete", cmd_complete},
        {"status", cmd_status},
        {"check", cmd_check},
        {"disconnect", cmd_disconnect},
        {"send", cmd_send},
        {"delete-user", cmd_delete_user},
        {"settings", cmd_settings},
        {"nudge", cmd_nudge},
        {"outbox", cmd_outbox},
        {"reload", cmd_reload},
        {"serve", cmd_serve}};
    auto it = commands.find(command);
    if (it == commands.end()) {
        std::fprintf(stderr, "host_stub: unknown command '%s' (see --help)\n", command.c_str());
        return kUsage;
    }
    if (command == "serve") {
        sigset_t signals = serve_signals();
        pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    }
    try {
        auto rt = std::make_unique<host::HostRuntime>(options.config_path);
        return it->second(*rt, options, args);
    } catch (const host::OutboxError& e) {
        std::fprintf(stderr, "host_stub: %s: %s\n", command.c_str(), printable(e.what()).c_str());
        return kNotSuccessful;
    } catch (const UsageError& e) {
        std::fprintf(stderr, "host_stub: %s: %s (see --help)\n", command.c_str(), printable(e.what()).c_str());
        return kUsage;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "host_stub: %s\n", printable(e.what()).c_str());
        return kError;
    }
}

}  // namespace cli
