// The mock provider: a second real plugin on the same ABI and SDK, for developing hosts
// without Microsoft. Connect succeeds at once with a configured address; send validates the
// message like a real provider and writes it as an RFC 5322 .eml file (temp name, fsync,
// rename). It can be told to answer any other outcome, for the whole instance ("outcome" in
// the config) or per message (header "x-mock-outcome").
//
// This file is compiled once; mock_entry.cpp adds the exported entry point, once per variant.

#include "mock_provider.hpp"

#include "mock_eml.hpp"

#include <email_provider/ep_sdk.hpp>
#include <email_provider/message.hpp>

#include <boost/json.hpp>
#include <ep_json/reader.hpp>

#include <openssl/rand.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <deque>
#include <filesystem>
#include <mutex>
#include <thread>

namespace {

namespace json = boost::json;
namespace reader = ep::json_reader;

using ep::sdk::Error;
using ep::sdk::iso_time;

constexpr std::string_view kOutcomes[] = {"sent",      "rejected",  "auth_expired",
                                          "throttled", "transient", "indeterminate"};

bool is_outcome(std::string_view s) {
    return std::find(std::begin(kOutcomes), std::end(kOutcomes), s) != std::end(kOutcomes);
}

struct MockConfig {
    std::filesystem::path outbox_dir;
    std::string address = "mock.sender@example.com";
    std::string display_name = "Mock Sender";
    std::string outcome = "sent";
    int retry_after_seconds = 30;
    int queue_limit = 1000;
    int send_delay_ms = 0;   // each send takes this long: tests that need nudges in flight
    int check_delay_ms = 0;  // each check takes this long: tests of a check that answers too late
};

MockConfig read_config(const reader::Object& o) {
    MockConfig c;
    c.outbox_dir = o.string("outbox_dir").value_or("");
    if (c.outbox_dir.empty()) o.fail("outbox_dir", "is required");
    // Relative to what? The working directory differs between the CLI and a service: refuse,
    // and say how the host config names its own directory.
    if (!c.outbox_dir.is_absolute())
        o.fail("outbox_dir", "must be an absolute path (in the host config: \"${config_dir}/mock-outbox\")");
    c.address = o.string("address").value_or(c.address);
    if (!ep::message::is_valid_address(c.address)) o.fail("address", "is not a valid email address");
    c.display_name = o.string("display_name").value_or(c.display_name);
    c.outcome = o.string("outcome").value_or(c.outcome);
    if (!is_outcome(c.outcome)) o.fail("outcome", reader::must_be_one_of({std::begin(kOutcomes), std::end(kOutcomes)}));
    c.retry_after_seconds =
        static_cast<int>(o.integer("retry_after_seconds", 0, 86400).value_or(c.retry_after_seconds));
    c.queue_limit = static_cast<int>(o.integer("queue_limit", 1, 1000000).value_or(c.queue_limit));
    c.send_delay_ms = static_cast<int>(o.integer("send_delay_ms", 0, 60000).value_or(c.send_delay_ms));
    c.check_delay_ms = static_cast<int>(o.integer("check_delay_ms", 0, 60000).value_or(c.check_delay_ms));
    std::error_code fs_ec;
    std::filesystem::create_directories(c.outbox_dir, fs_ec);
    if (fs_ec) o.fail("outbox_dir", "cannot be created: " + fs_ec.message());
    return c;
}

MockConfig parse_config(std::string_view text) {
    try {
        const json::value root = reader::parse(text);
        return read_config(reader::Object(root, "",
                                          {"outbox_dir", "address", "display_name", "outcome", "retry_after_seconds",
                                           "queue_limit", "send_delay_ms", "check_delay_ms"},
                                          reader::Null::is_wrong_type, "must be a JSON object"));
    } catch (const reader::FieldError& e) {
        const std::string field = e.path().empty() ? "config" : e.path();
        throw Error(EP_ERR_CONFIG, "invalid_config", "mock provider config: " + field + " " + e.problem(), field);
    }
}

std::string random_hex(std::size_t bytes) {
    std::vector<unsigned char> buf(bytes);
    if (RAND_bytes(buf.data(), static_cast<int>(buf.size())) != 1)
        throw Error(EP_ERR_INTERNAL, "internal", "no randomness");
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (unsigned char b : buf) {
        out.push_back(digits[b >> 4]);
        out.push_back(digits[b & 15]);
    }
    return out;
}

// Writes `content` to dir/name atomically: a reader never sees a partial .eml.
std::filesystem::path write_atomically(const std::filesystem::path& dir, const std::string& name,
                                       const std::string& content) {
    std::filesystem::path tmp = dir / (".tmp-" + name);
    std::filesystem::path final_path = dir / name;
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) throw std::runtime_error("cannot create " + tmp.string());
    std::size_t done = 0;
    while (done < content.size()) {
        ssize_t n = ::write(fd, content.data() + done, content.size() - done);
        if (n <= 0) {
            ::close(fd);
            ::unlink(tmp.c_str());
            throw std::runtime_error("cannot write " + tmp.string());
        }
        done += static_cast<std::size_t>(n);
    }
    bool synced = ::fsync(fd) == 0;
    ::close(fd);
    if (!synced || ::rename(tmp.c_str(), final_path.c_str()) != 0) {
        ::unlink(tmp.c_str());
        throw std::runtime_error("cannot publish " + final_path.string());
    }
    return final_path;
}

class ProviderCore {
public:
    ProviderCore(ep::sdk::Host host, std::string_view config) : host_(host), config_(parse_config(config)) {
        worker_ = std::thread([this] { run(); });
    }

    ~ProviderCore() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        cv_.notify_all();
        worker_.join();  // drains the queue: every accepted send gets its callback
    }

    std::string begin_connect(std::string_view account, std::string_view request_json) {
        if (!request_json.empty()) {
            boost::system::error_code ec;
            json::value req = json::parse(request_json, ec);
            if (ec || !req.is_object())
                throw Error(EP_ERR_INVALID_ARGUMENT, "invalid_request", "connect request must be a JSON object",
                            "request");
        }
        json::object record{{"email", config_.address},
                            {"display_name", config_.display_name},
                            {"connected_at_ms", host_.now_unix_ms()}};
        std::string text = json::serialize(record);
        std::vector<uint8_t> bytes(text.begin(), text.end());
        auto current = host_.secret_get(key(account));
        host_.secret_put(key(account), bytes, current ? current->version : 0);
        json::object out{{"action", "none"}, {"status", status_object(account)}};
        return json::serialize(out);
    }

    std::string complete_connect(std::string_view account, std::string_view) {
        json::object out{{"outcome", "connected"},
                         {"message", "The mock provider connects without a callback."},
                         {"status", status_object(account)}};
        return json::serialize(out);
    }

    std::string status(std::string_view account) { return json::serialize(status_object(account)); }

    std::string disconnect(std::string_view account) {
        // The account's one key, exactly: a prefix delete of "account/sam" would also take
        // "account/samantha".
        host_.secret_delete(key(account));
        json::object out{{"disconnected", true},
                         {"message", "Disconnected: the mock provider forgot this account."},
                         {"status", status_object(account)}};
        return json::serialize(out);
    }

    std::string forget_account(std::string_view account) { return disconnect(account); }

    ep::sdk::SendAdmission send(std::string_view account, std::string_view message_json, ep::sdk::SendCallback done) {
        ep::message::Message message;
        try {
            message = ep::message::parse_message(message_json);
            mock::check_custom_headers(message);
        } catch (const Error& e) {
            return {EP_ERR_INVALID_ARGUMENT, result_document("rejected", e.code(), e.what(), e.field(), "", 0)};
        }
        std::lock_guard lock(mutex_);
        if (stopping_)
            return {EP_ERR_SHUTTING_DOWN,
                    result_document("transient", "shutting_down", "the provider is shutting down", "", "", 0)};
        if (queue_.size() >= static_cast<std::size_t>(config_.queue_limit))
            return {EP_ERR_BUSY, result_document("throttled", "queue_full", "the send queue is full", "", "", 1)};
        queue_.push_back(
            Job{std::string(account), std::move(message), std::move(done), std::chrono::steady_clock::now()});
        cv_.notify_one();
        return ep::sdk::SendAdmission::accepted();
    }

    // The mock has no service to ask: a check answers the stored state, on the worker like a
    // real provider's (never inside the call), stamped with when it was checked.
    void check_connection(std::string_view account, ep::sdk::CheckCallback done) {
        std::lock_guard lock(mutex_);
        if (stopping_) throw Error(EP_ERR_SHUTTING_DOWN, "shutting_down", "the provider is shutting down");
        queue_.push_back(Job{std::string(account), {}, std::move(done), std::chrono::steady_clock::now(), true});
        cv_.notify_one();
    }

private:
    struct Job {
        std::string account;
        ep::message::Message message;
        ep::sdk::SendCallback done;
        std::chrono::steady_clock::time_point accepted_at;
        bool check = false;  // a connection check, not a send
    };

    static std::string key(std::string_view account) { return "account/" + std::string(account); }

    json::object status_object(std::string_view account) {
        // developer_only: hosts keep it off their users' pages unless configured to show it.
        json::object s{{"schema", "ep.status/1"},
                       {"account", account},
                       {"provider", "mock"},
                       {"service_name", "Mock provider"},
                       {"developer_only", true}};
        auto blob = host_.secret_get(key(account));
        if (!blob) {
            s["state"] = "not_connected";
            s["connect_hint"] = "Connects at once, without signing in anywhere; messages are written as .eml files.";
            return s;
        }
        boost::system::error_code ec;
        json::value record =
            json::parse(std::string_view(reinterpret_cast<const char*>(blob->bytes.data()), blob->bytes.size()), ec);
        if (ec || !record.is_object()) {
            s["state"] = "expired";
            s["reason"] = "storage";
            s["message"] = "The stored connection could not be read; connect again.";
            return s;
        }
        s["state"] = "connected";
        s["email"] = record.as_object()["email"];
        s["display_name"] = record.as_object()["display_name"];
        s["disconnect_hint"] = "Disconnecting forgets the configured address; the .eml files already written stay.";
        return s;
    }

    std::string checked_status(std::string_view account) {
        json::object s = status_object(account);
        s["checked_at"] = iso_time(host_.now_unix_ms());
        return json::serialize(s);
    }

    // The store could not be read: the check could not tell, which is not a state (SCHEMAS.md
    // "check_failed"); the host keeps what it knew.
    static std::string checked_status_failure(std::string_view account, std::string_view what) {
        json::object s{{"schema", "ep.status/1"},
                       {"account", account},
                       {"provider", "mock"},
                       {"check_failed", json::object{{"code", "storage"}, {"message", what}}}};
        return json::serialize(s);
    }

    static std::string result_document(std::string_view outcome, std::string_view code, std::string_view message,
                                       std::string_view field, std::string_view client_request_id, int retry_after) {
        json::object r{{"schema", "ep.send_result/1"}, {"outcome", outcome}};
        if (!code.empty()) r["code"] = code;
        if (!message.empty()) r["message"] = message;
        if (!field.empty()) r["field"] = field;
        if (!client_request_id.empty()) r["client_request_id"] = client_request_id;
        if (outcome == "throttled") r["retry_after_ms"] = static_cast<int64_t>(retry_after) * 1000;
        return json::serialize(r);
    }

    std::string forced_outcome(const ep::message::Message& m) const {
        for (const auto& h : m.headers)
            if (h.name == "x-mock-outcome" || h.name == "X-Mock-Outcome") return h.value;
        return config_.outcome;
    }

    std::string deliver(Job& job) {
        const ep::message::Message& m = job.message;
        std::string crid = m.client_request_id.empty() ? random_hex(16) : m.client_request_id;
        std::string outcome = forced_outcome(m);
        if (!is_outcome(outcome))
            return result_document("rejected", "invalid_mock_outcome", "x-mock-outcome names no outcome", "headers",
                                   crid, 0);
        if (outcome != "sent") {
            return result_document(outcome, "mock_" + outcome, "the mock provider was configured to answer " + outcome,
                                   "", crid, config_.retry_after_seconds);
        }
        if (!host_.secret_get(key(job.account)))
            return result_document("auth_expired", "not_connected", "this account has not connected the mock provider",
                                   "", crid, 0);
        std::string id = random_hex(12);
        mock::EmlHeaderInfo info{config_.address, config_.display_name,
                                 m.message_id.empty() ? "<" + id + "@mock.invalid>" : m.message_id,
                                 host_.now_unix_ms()};
        std::string eml = mock::render_eml(m, info);
        auto path = write_atomically(config_.outbox_dir, std::to_string(info.date_unix_ms) + "-" + id + ".eml", eml);
        json::object r{{"schema", "ep.send_result/1"},
                       {"outcome", "sent"},
                       {"client_request_id", crid},
                       {"internet_message_id", info.message_id},
                       {"file", path.string()}};
        auto elapsed = std::chrono::steady_clock::now() - job.accepted_at;
        r["elapsed_ms"] = std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count();
        return json::serialize(r);
    }

    void run() {
        std::unique_lock lock(mutex_);
        while (true) {
            cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) return;  // stopping and drained
            Job job = std::move(queue_.front());
            queue_.pop_front();
            lock.unlock();
            std::string result;
            try {
                if (job.check) {
                    if (config_.check_delay_ms > 0)
                        std::this_thread::sleep_for(std::chrono::milliseconds(config_.check_delay_ms));
                    result = checked_status(job.account);
                } else {
                    if (config_.send_delay_ms > 0)
                        std::this_thread::sleep_for(std::chrono::milliseconds(config_.send_delay_ms));
                    result = deliver(job);
                }
            } catch (const std::exception& e) {
                result = job.check ? checked_status_failure(job.account, e.what())
                                   : result_document("transient", "write_failed", e.what(), "",
                                                     job.message.client_request_id, 0);
            }
            job.done(result);
            lock.lock();
        }
    }

    ep::sdk::Host host_;
    MockConfig config_;
    std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<Job> queue_;
    bool stopping_ = false;
    std::thread worker_;  // last: started after everything it uses
};

}  // namespace

namespace mock {

struct MockProvider::Impl {
    ProviderCore core;
    Impl(ep::sdk::Host host, std::string_view config) : core(host, config) {}
};

MockProvider::MockProvider(ep::sdk::Host host, std::string_view config_json)
    : impl_(std::make_unique<Impl>(host, config_json)) {}
MockProvider::~MockProvider() = default;

std::string MockProvider::begin_connect(std::string_view account, std::string_view request_json) {
    return impl_->core.begin_connect(account, request_json);
}
std::string MockProvider::complete_connect(std::string_view account, std::string_view callback_json) {
    return impl_->core.complete_connect(account, callback_json);
}
std::string MockProvider::status(std::string_view account) { return impl_->core.status(account); }
std::string MockProvider::disconnect(std::string_view account) { return impl_->core.disconnect(account); }
std::string MockProvider::forget_account(std::string_view account) { return impl_->core.forget_account(account); }
ep::sdk::SendAdmission MockProvider::send(std::string_view account, std::string_view message_json,
                                          ep::sdk::SendCallback done) {
    return impl_->core.send(account, message_json, std::move(done));
}

void MockProvider::check_connection(std::string_view account, ep::sdk::CheckCallback done) {
    impl_->core.check_connection(account, std::move(done));
}

}  // namespace mock
