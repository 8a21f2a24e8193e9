#include "runner.hpp"

#include "channel/channel.hpp"

#include <email_provider/message.hpp>
#include <email_provider/provider_loader.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/json/array.hpp>

#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

namespace ep::runner {
namespace {

namespace json = boost::json;
namespace channel = ep::loader::channel;
using ep::loader::CallResult;
using ep::loader::ProviderInstance;

// JSON-RPC 2.0 error codes (https://www.jsonrpc.org/specification#error_object); -32000 to
// -32099 are left to the implementation.
constexpr int64_t kMethodNotFound = -32601;
constexpr int64_t kInvalidParams = -32602;
constexpr int64_t kInternalError = -32603;
constexpr int64_t kHelloFailed = -32000;  // data: {stage, status, document}
constexpr int64_t kNotReady = -32001;     // no hello yet, a second hello, or shutting down

// Plugin calls run on these threads, never on the reader: a call may wait for a host service
// whose answer only the reader can deliver.
constexpr std::size_t kWorkerThreads = 8;

// The threads that make plugin calls: Asio's queue, threads started here. Not
// boost::asio::thread_pool: when one of its threads cannot start (a tight RLIMIT_AS), its
// constructor throws and then waits for ever on the threads that did start.
class Workers {
public:
    explicit Workers(std::size_t count) {
        try {
            while (threads_.size() < count) threads_.emplace_back([this] { io_.run(); });
        } catch (...) {
            io_.stop();
            join();
            throw;
        }
    }
    ~Workers() { join(); }
    Workers(const Workers&) = delete;
    Workers& operator=(const Workers&) = delete;

    template <typename Task>
    void post(Task&& task) {
        boost::asio::post(io_, std::forward<Task>(task));
    }
    // Returns once every task posted so far has run.
    void join() {
        idle_guard_.reset();
        for (std::thread& t : threads_)
            if (t.joinable()) t.join();
    }

private:
    boost::asio::io_context io_;
    // Keeps the threads waiting for tasks while the queue is empty, until join.
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> idle_guard_{io_.get_executor()};
    std::vector<std::thread> threads_;
};

// A request the runner answers with a JSON-RPC error.
class RequestError : public std::runtime_error {
public:
    RequestError(int64_t code, const std::string& message, json::value data = nullptr)
        : std::runtime_error(message), code_(code), data_(std::move(data)) {}
    int64_t code() const { return code_; }
    const json::value& data() const { return data_; }

private:
    int64_t code_;
    json::value data_;
};

std::string_view view(ep_str s) { return {s.data ? s.data : "", s.len}; }

json::object call_result(const CallResult& r) { return {{"status", r.status}, {"document", r.document}}; }

json::object info_object(const ep::loader::ProviderInfo& info) {
    return {{"provider_name", info.provider_name},
            {"provider_version", info.provider_version},
            {"abi_major", info.abi_major},
            {"abi_minor", info.abi_minor},
            {"plugin_abi_minor", info.plugin_abi_minor},
            {"capabilities", info.capabilities},
            {"can_check", info.can_check},
            {"threads_messages", info.threads_messages},
            {"warnings", json::array(info.warnings.begin(), info.warnings.end())}};
}

RequestError hello_failed(std::string_view stage, const ep::loader::LoadError& e, ep_status status,
                          std::string_view document) {
    return RequestError(kHelloFailed, e.what(),
                        json::object{{"stage", stage}, {"status", status}, {"document", document}});
}

// Holds a send's send_done until the send's response is out: the plugin may call back on its
// own thread before the worker has written the response, even from inside send.
class AfterResponse {
public:
    void write_or_hold(channel::LineWriter& writer, json::object message) {
        std::lock_guard lock(mutex_);
        if (responded_)
            writer.write(message);
        else
            held_ = std::move(message);
    }
    void responded(channel::LineWriter& writer) {
        std::lock_guard lock(mutex_);
        responded_ = true;
        if (held_) writer.write(*held_);
    }

private:
    std::mutex mutex_;
    bool responded_ = false;
    std::optional<json::object> held_;
};

// The host's clock as of its last request (every request carries it), run on with this
// process's steady clock: a plugin reads the time often, and a round trip per reading would cost
// more than the send it times. A host that moves its clock (tests, the demo) is followed at its
// next request.
class HostClock {
public:
    void set(int64_t host_now_ms) {
        std::lock_guard lock(mutex_);
        host_ms_ = host_now_ms;
        at_ = std::chrono::steady_clock::now();
    }
    int64_t now() const {
        std::lock_guard lock(mutex_);
        return host_ms_ +
               std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - at_).count();
    }

private:
    mutable std::mutex mutex_;
    int64_t host_ms_ = 0;
    std::chrono::steady_clock::time_point at_ = std::chrono::steady_clock::now();
};

// Requests reach the instance in the order they arrived as far as shutdown is concerned: a
// send the host wrote before "shutdown" must be the plugin's to answer, not refused because a
// worker took the shutdown first (the host pipelines sends and does not wait for acceptance).
class ArrivalOrder {
public:
    // On the reader thread: the number of requests routed so far, this one included.
    uint64_t arrived() { return ++arrived_; }
    uint64_t arrived_so_far() const { return arrived_; }
    void started() {
        std::lock_guard lock(mutex_);
        ++started_;
        all_started_.notify_all();
    }
    void wait_until_started(uint64_t count) {
        std::unique_lock lock(mutex_);
        all_started_.wait(lock, [&] { return started_ >= count; });
    }

private:
    uint64_t arrived_ = 0;  // the reader's alone
    std::mutex mutex_;
    std::condition_variable all_started_;
    uint64_t started_ = 0;
};

// Marks a request started once it holds the instance (or when it ends without needing it).
class StartMark {
public:
    explicit StartMark(ArrivalOrder& order) : order_(order) {}
    StartMark(const StartMark&) = delete;
    StartMark& operator=(const StartMark&) = delete;
    ~StartMark() { now(); }
    void now() {
        if (!marked_) order_.started();
        marked_ = true;
    }

private:
    ArrivalOrder& order_;
    bool marked_ = false;
};

class Runner {
public:
    explicit Runner(int fd) : fd_(fd), writer_(fd) {}
    Runner(const Runner&) = delete;
    Runner& operator=(const Runner&) = delete;

    int run();

private:
    // ---- the channel
    void route(json::object message);
    void deliver(uint64_t id, json::object response);
    void channel_gone();
    std::optional<json::object> call_host(std::string_view method, json::object params);
    ep_status host_status(std::string_view method, json::object params, json::object* result = nullptr);

    // ---- the host's requests
    void serve_request(uint64_t id, const std::string& method, const json::object& message, StartMark& mark);
    std::optional<json::value> dispatch(uint64_t id, const std::string& method, const json::object& params,
                                        StartMark& mark);
    std::optional<json::value> call_instance(uint64_t id, const std::string& method, const json::object& params,
                                             StartMark& mark);
    json::value hello(const json::object& params);
    void send(uint64_t id, ProviderInstance& instance, std::string_view account, std::string_view message);
    void shutdown(uint64_t id, uint64_t after_requests);
    void close_instance();

    // ---- the ep_host_api the provider gets
    static Runner& self(void* ctx) { return *static_cast<Runner*>(ctx); }
    static void log(void* ctx, ep_log_level level, ep_str message);
    static int32_t log_enabled(void* ctx, ep_log_level level);
    static int64_t now_unix_ms(void* ctx);
    static ep_status secret_get(void* ctx, ep_str key, ep_secret_receiver receiver, void* receiver_ctx);
    static ep_status secret_put(void* ctx, ep_str key, ep_bytes value, uint64_t expected_version,
                                uint64_t* new_version);
    static ep_status secret_delete(void* ctx, ep_str key, uint64_t expected_version);
    static ep_status secret_delete_prefix(void* ctx, ep_str prefix);
    static void count_event(void* ctx, ep_str event, ep_str outcome);

    int fd_;
    channel::LineWriter writer_;
    // The loader cuts it to the minor hello negotiated (a host of 1.2 lends no count_event).
    const ep_host_api host_api_{sizeof(ep_host_api), this,        &log,           &log_enabled,          &now_unix_ms,
                                &secret_get,         &secret_put, &secret_delete, &secret_delete_prefix, &count_event};
    std::atomic<uint32_t> log_levels_{0};
    HostClock host_clock_;

    // Requests to the host waiting for their answers, by id.
    std::mutex waiters_mutex_;
    std::condition_variable answered_;
    std::map<uint64_t, std::optional<json::object>> waiters_;
    uint64_t next_id_ = 1;
    bool channel_gone_ = false;

    // Calls share the instance; hello and shutdown replace it alone.
    std::shared_mutex instance_mutex_;
    std::unique_ptr<ProviderInstance> instance_;
    bool stopping_ = false;
    ArrivalOrder arrival_order_;

    // Declared last: destroyed (joined) first, while everything its threads use still exists.
    Workers workers_{kWorkerThreads};
};

int Runner::run() {
    channel::LineReader reader;
    try {
        for (std::string bytes; !(bytes = channel::read_some(fd_)).empty();) {
            reader.feed(bytes);
            while (auto message = reader.next()) route(std::move(*message));
        }
    } catch (const channel::ProtocolError& e) {
        // The host treats a runner that leaves as crashed; waiting for the provider's threads
        // here could keep a broken channel open for ever.
        std::fprintf(stderr, "ep-provider-runner: the host broke the channel: %s\n", e.what());
        std::fflush(stderr);
        std::_Exit(kExitProtocol);
    }
    // The host said shutdown, or closed the channel: host services answer "gone" from now on,
    // and the instance goes (its sends call back first).
    channel_gone();
    close_instance();
    workers_.join();
    return kExitOk;
}

void Runner::route(json::object message) {
    const std::optional<uint64_t> id = channel::id_of(message);
    const std::optional<std::string_view> method = channel::method_of(message);
    if (!method) {
        if (id) deliver(*id, std::move(message));
        return;
    }
    // The host sends no notifications; one it might add later is ignored, as JSON-RPC 2.0 allows.
    if (!id) return;
    if (const json::value* params = message.if_contains("params"); params != nullptr && params->is_object())
        if (const json::value* now = params->as_object().if_contains("now"); now != nullptr && now->is_int64())
            host_clock_.set(now->as_int64());
    if (*method == "shutdown") {
        workers_.post([this, id = *id, before = arrival_order_.arrived_so_far()] { shutdown(id, before); });
        return;
    }
    arrival_order_.arrived();
    workers_.post([this, id = *id, method = std::string(*method), message = std::move(message)] {
        StartMark mark(arrival_order_);
        serve_request(id, method, message, mark);
    });
}

void Runner::deliver(uint64_t id, json::object response) {
    std::lock_guard lock(waiters_mutex_);
    auto waiter = waiters_.find(id);
    if (waiter == waiters_.end()) return;  // no one asked: nothing to wake
    waiter->second = std::move(response);
    answered_.notify_all();
}

void Runner::channel_gone() {
    std::lock_guard lock(waiters_mutex_);
    channel_gone_ = true;
    answered_.notify_all();
}

// The host's result; nullopt when the channel is gone or the host answered with an error.
std::optional<json::object> Runner::call_host(std::string_view method, json::object params) {
    std::unique_lock lock(waiters_mutex_);
    if (channel_gone_) return std::nullopt;
    const uint64_t id = next_id_++;
    auto waiter = waiters_.emplace(id, std::nullopt).first;
    lock.unlock();
    const bool written = writer_.write(channel::request(id, method, std::move(params)));
    lock.lock();
    if (written) answered_.wait(lock, [&] { return waiter->second.has_value() || channel_gone_; });
    std::optional<json::object> answer = std::move(waiter->second);
    waiters_.erase(waiter);
    if (!answer) return std::nullopt;
    json::value* result = answer->if_contains("result");
    if (result == nullptr || !result->is_object()) return std::nullopt;
    return std::move(result->as_object());
}

// A secret-store call: the host's status, EP_ERR_STORAGE when there is no usable answer.
ep_status Runner::host_status(std::string_view method, json::object params, json::object* result) {
    std::optional<json::object> answer = call_host(method, std::move(params));
    if (!answer) return EP_ERR_STORAGE;
    try {
        const int64_t status = channel::integer_member(*answer, "status");
        if (result) *result = std::move(*answer);
        return static_cast<ep_status>(status);
    } catch (const channel::ProtocolError& e) {
        std::fprintf(stderr, "ep-provider-runner: the host's %.*s answer: %s\n", int(method.size()), method.data(),
                     e.what());
        return EP_ERR_STORAGE;
    }
}

void Runner::serve_request(uint64_t id, const std::string& method, const json::object& message, StartMark& mark) {
    try {
        if (auto result = dispatch(id, method, channel::params_of(message), mark))
            writer_.write(channel::response(id, std::move(*result)));
    } catch (const RequestError& e) {
        writer_.write(channel::error_response(id, e.code(), e.what(), e.data()));
    } catch (const channel::ProtocolError& e) {
        // Thrown by the params readers: it names the member.
        writer_.write(channel::error_response(id, kInvalidParams, method + ": " + e.what()));
    } catch (const std::exception& e) {
        writer_.write(channel::error_response(id, kInternalError, method + ": " + e.what()));
    }
}

// The result to answer with; nullopt when the answer is written later or elsewhere.
std::optional<json::value> Runner::dispatch(uint64_t id, const std::string& method, const json::object& params,
                                            StartMark& mark) {
    if (method == "hello") return hello(params);
    return call_instance(id, method, params, mark);
}

std::optional<json::value> Runner::call_instance(uint64_t id, const std::string& method, const json::object& params,
                                                 StartMark& mark) {
    using AccountCall = CallResult (ProviderInstance::*)(std::string_view);
    using DocumentCall = CallResult (ProviderInstance::*)(std::string_view, std::string_view);
    static const std::map<std::string, AccountCall, std::less<>> account_calls{
        {"get_status", &ProviderInstance::status},
        {"disconnect", &ProviderInstance::disconnect},
        {"forget_account", &ProviderInstance::forget_account},
        {"get_sending_limits", &ProviderInstance::sending_limits}};
    static const std::map<std::string, DocumentCall, std::less<>> document_calls{
        {"begin_connect", &ProviderInstance::begin_connect}, {"complete_connect", &ProviderInstance::complete_connect}};
    auto account_call = account_calls.find(method);
    auto document_call = document_calls.find(method);
    if (account_call == account_calls.end() && document_call == document_calls.end() && method != "send" &&
        method != "check_connection")
        throw RequestError(kMethodNotFound, "unknown method \"" + method + "\"");

    std::shared_lock lock(instance_mutex_);
    mark.now();
    if (stopping_) throw RequestError(kNotReady, method + ": the runner is shutting down");
    if (!instance_) throw RequestError(kNotReady, method + ": no provider is loaded (hello first)");
    ProviderInstance& instance = *instance_;
    const std::string_view account = channel::string_member(params, "account");
    if (account_call != account_calls.end()) return call_result((instance.*account_call->second)(account));
    if (document_call != document_calls.end())
        return call_result((instance.*document_call->second)(account, channel::string_member(params, "document")));
    if (method == "send") {
        send(id, instance, account, channel::string_member(params, "document"));
        return std::nullopt;
    }
    // check_connection: answered when the check is done (the instance waits for it on destroy).
    instance.check_connection(
        account, [this, id](CallResult status) { writer_.write(channel::response(id, call_result(status))); });
    return std::nullopt;
}

json::value Runner::hello(const json::object& params) {
    const std::string manifest(channel::string_member(params, "manifest"));
    const std::string_view config = channel::string_member(params, "config");
    const int64_t host_abi_minor = channel::integer_member(params, "host_abi_minor");
    if (host_abi_minor < 0 || host_abi_minor > UINT16_MAX)
        throw RequestError(kInvalidParams, "hello: \"host_abi_minor\" must be 0 to 65535");
    const int64_t log_levels = channel::integer_member(params, "log_levels");
    if (log_levels < 0 || log_levels > UINT32_MAX)
        throw RequestError(kInvalidParams, "hello: \"log_levels\" must be a 32-bit mask");

    std::unique_lock lock(instance_mutex_);
    if (stopping_) throw RequestError(kNotReady, "hello: the runner is shutting down");
    if (instance_) throw RequestError(kNotReady, "hello: a provider is already loaded");
    log_levels_ = static_cast<uint32_t>(log_levels);
    std::shared_ptr<ep::loader::LoadedProvider> loaded;
    try {
        loaded = ep::loader::load_provider(ep::loader::read_manifest(manifest),
                                           ep::loader::LoadOptions{static_cast<uint16_t>(host_abi_minor)});
    } catch (const ep::loader::LoadError& e) {
        throw hello_failed("load", e, EP_ERR_INTERNAL, "");
    }
    try {
        instance_ = ProviderInstance::create(std::move(loaded), &host_api_, config);
    } catch (const ep::loader::CreateError& e) {
        throw hello_failed("create", e, e.status(), e.document());
    }
    return info_object(instance_->info());
}

void Runner::send(uint64_t id, ProviderInstance& instance, std::string_view account, std::string_view message) {
    auto order = std::make_shared<AfterResponse>();
    // Before the plugin has the message: a send whose send_started the host never read had
    // certainly not started (ISOLATION.md).
    writer_.write(channel::notification("send_started", {{"id", id}}));
    std::optional<CallResult> refusal = instance.send(account, message, [this, id, order](std::string_view result) {
        order->write_or_hold(writer_, channel::notification("send_done", {{"id", id}, {"document", result}}));
    });
    writer_.write(channel::response(id, call_result(refusal.value_or(CallResult{EP_OK, ""}))));
    order->responded(writer_);
}

// Waits for the requests that arrived before it to reach the instance, then destroys it.
void Runner::shutdown(uint64_t id, uint64_t after_requests) {
    arrival_order_.wait_until_started(after_requests);
    close_instance();
    writer_.write(channel::response(id, json::object{}));
    // Ends the reader's read (it then sees the end of the stream); writes still go out.
    ::shutdown(fd_, SHUT_RD);
}

// Destroys the instance once the calls in flight are done; it waits for accepted sends, each
// of which calls back (send_done) first.
void Runner::close_instance() {
    std::unique_lock lock(instance_mutex_);
    stopping_ = true;
    instance_.reset();
}

// ---- The ep_host_api the provider gets: each call crosses to the host and blocks this thread
// until the reader delivers the answer. C functions: nothing may unwind into the plugin.

void Runner::log(void* ctx, ep_log_level level, ep_str message) {
    Runner& runner = self(ctx);
    if (!log_enabled(ctx, level)) return;
    try {
        runner.writer_.write(channel::notification("log", {{"level", level}, {"message", view(message)}}));
    } catch (...) {
        // A log line that cannot be written is dropped.
    }
}

int32_t Runner::log_enabled(void* ctx, ep_log_level level) {
    return level >= 0 && level < 32 && ((self(ctx).log_levels_.load() >> level) & 1u);
}

int64_t Runner::now_unix_ms(void* ctx) { return self(ctx).host_clock_.now(); }

ep_status Runner::secret_get(void* ctx, ep_str key, ep_secret_receiver receiver, void* receiver_ctx) {
    try {
        json::object result;
        const ep_status status = self(ctx).host_status("secret_get", {{"key", view(key)}}, &result);
        if (status != EP_OK) return status;
        const std::optional<std::string> value = ep::message::base64_decode(channel::string_member(result, "value"));
        const int64_t version = channel::integer_member(result, "version");
        if (!value || version <= 0) return EP_ERR_STORAGE;
        receiver(receiver_ctx, ep_bytes{reinterpret_cast<const uint8_t*>(value->data()), value->size()},
                 static_cast<uint64_t>(version));
        return EP_OK;
    } catch (const std::exception&) {
        return EP_ERR_STORAGE;
    }
}

ep_status Runner::secret_put(void* ctx, ep_str key, ep_bytes value, uint64_t expected_version, uint64_t* new_version) {
    try {
        const std::string_view bytes(reinterpret_cast<const char*>(value.data), value.data ? value.len : 0);
        json::object result;
        const ep_status status = self(ctx).host_status(
            "secret_put",
            {{"key", view(key)}, {"value", ep::message::base64_encode(bytes)}, {"expected_version", expected_version}},
            &result);
        if (status != EP_OK) return status;
        const int64_t version = channel::integer_member(result, "version");
        if (version <= 0) return EP_ERR_STORAGE;
        if (new_version) *new_version = static_cast<uint64_t>(version);
        return EP_OK;
    } catch (const std::exception&) {
        return EP_ERR_STORAGE;
    }
}

ep_status Runner::secret_delete(void* ctx, ep_str key, uint64_t expected_version) {
    try {
        return self(ctx).host_status("secret_delete", {{"key", view(key)}, {"expected_version", expected_version}});
    } catch (const std::exception&) {
        return EP_ERR_STORAGE;
    }
}

ep_status Runner::secret_delete_prefix(void* ctx, ep_str prefix) {
    try {
        return self(ctx).host_status("secret_delete_prefix", {{"prefix", view(prefix)}});
    } catch (const std::exception&) {
        return EP_ERR_STORAGE;
    }
}

// Events and outcomes are words (SCHEMAS.md "events"); anything else is dropped here, as bytes
// that are not UTF-8 would break the channel's JSON.
bool is_word(std::string_view s) {
    return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    });
}

// A notification, like log: the plugin does not wait for the host to count.
void Runner::count_event(void* ctx, ep_str event, ep_str outcome) {
    if (!is_word(view(event)) || !is_word(view(outcome))) return;
    try {
        self(ctx).writer_.write(
            channel::notification("count_event", {{"event", view(event)}, {"outcome", view(outcome)}}));
    } catch (...) {
        // An event that cannot be written is not counted.
    }
}

uint64_t parse_count(std::string_view name, std::string_view text) {
    uint64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value == 0)
        throw std::invalid_argument(std::string(name) + " must be a positive whole number, not \"" + std::string(text) +
                                    "\"");
    return value;
}

// Lowers the limit; one above the hard limit is capped there (raising it needs privileges).
void lower_limit(int resource, std::string_view name, uint64_t value) {
    if (value == 0) return;
    rlimit limit{};
    if (::getrlimit(resource, &limit) != 0)
        throw std::system_error(errno, std::generic_category(), "getrlimit " + std::string(name));
    const rlim_t capped = limit.rlim_max == RLIM_INFINITY ? value : std::min<rlim_t>(value, limit.rlim_max);
    limit.rlim_cur = limit.rlim_max = capped;
    if (::setrlimit(resource, &limit) != 0)
        throw std::system_error(errno, std::generic_category(), "setrlimit " + std::string(name));
}

}  // namespace

Limits parse_arguments(int argc, const char* const* argv) {
    Limits limits;
    for (int i = 1; i < argc; i += 2) {
        const std::string_view name = argv[i];
        uint64_t* target = name == "--address-space-bytes" ? &limits.address_space_bytes
                           : name == "--open-files"        ? &limits.open_files
                                                           : nullptr;
        if (target == nullptr)
            throw std::invalid_argument("unknown argument \"" + std::string(name) +
                                        "\" (usage: ep-provider-runner [--address-space-bytes N] [--open-files N])");
        if (i + 1 >= argc) throw std::invalid_argument(std::string(name) + " needs a number");
        *target = parse_count(name, argv[i + 1]);
    }
    return limits;
}

void apply_limits(const Limits& limits) {
    if (kAddressSpaceLimitApplies)
        lower_limit(RLIMIT_AS, "RLIMIT_AS", limits.address_space_bytes);
    else if (limits.address_space_bytes != 0)
        std::fputs("ep-provider-runner: a sanitizer build keeps the inherited address-space limit\n", stderr);
    lower_limit(RLIMIT_NOFILE, "RLIMIT_NOFILE", limits.open_files);
}

int serve(int fd) {
    std::optional<Runner> runner;
    try {
        runner.emplace(fd);
    } catch (const std::exception& e) {
        // Starting the workers is all the constructor does that can fail; each one's stack is
        // address space, which a tight RLIMIT_AS may not have.
        std::fprintf(
            stderr,
            "ep-provider-runner: cannot start its %zu worker threads (%s); is the address-space limit too low?\n",
            kWorkerThreads, e.what());
        return kExitUsage;
    }
    return runner->run();
}

}  // namespace ep::runner
