// A provider in C++ with the SDK (ep_sdk.hpp) and the shared message model: it "connects" an
// account at once, keeping that fact in the host's secret store, and "sends" every valid
// message on a worker thread of its own, as the ABI asks (the callback never runs inside send).
#include <email_provider/ep_sdk.hpp>
#include <email_provider/message.hpp>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

namespace {

class ExampleProvider final : public ep::sdk::Provider {
public:
    // Takes no configuration (pass {}).
    ExampleProvider(ep::sdk::Host host, std::string_view) : host_(host), worker_([this] { run(); }) {}

    // destroy: the worker completes every accepted send before it stops.
    ~ExampleProvider() override {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        worker_.join();
    }

    std::string begin_connect(std::string_view account, std::string_view) override {
        host_.secret_put(key(account), {'1'}, 0);  // a conflict means: already connected
        return R"({"action":"none","status":)" + status(account) + "}";
    }

    std::string complete_connect(std::string_view, std::string_view) override {
        throw ep::sdk::Error(EP_ERR_UNSUPPORTED, "unsupported", "this provider connects at once");
    }

    std::string status(std::string_view account) override {
        std::string doc = R"({"schema":"ep.status/1","provider":"cpp_example","account":)";
        ep::sdk::append_json_string(doc, account);
        return doc + (host_.secret_get(key(account)) ? R"(,"state":"connected"})" : R"(,"state":"not_connected"})");
    }

    std::string disconnect(std::string_view account) override {
        host_.secret_delete(key(account));
        return R"({"disconnected":true,"status":)" + status(account) + "}";
    }

    std::string forget_account(std::string_view account) override { return disconnect(account); }

    ep::sdk::SendAdmission send(std::string_view account, std::string_view message_json,
                                ep::sdk::SendCallback done) override {
        // Throws ep::sdk::Error naming the field: the SDK turns it into a "rejected" refusal.
        ep::message::Message message = ep::message::parse_message(message_json);
        if (!host_.secret_get(key(account)))
            return {EP_ERR_INVALID_ARGUMENT, ep::sdk::send_refusal_document(EP_ERR_INVALID_ARGUMENT, "not_connected",
                                                                            "the account is not connected", "")};
        {
            std::lock_guard lock(mutex_);
            queue_.push_back(std::move(done));
        }
        wake_.notify_one();
        return ep::sdk::SendAdmission::accepted();
    }

private:
    static std::string key(std::string_view account) { return "connected/" + std::string(account); }

    void run() {
        unsigned long sent = 0;
        std::unique_lock lock(mutex_);
        while (true) {
            wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) return;  // stopping, and nothing left to complete
            ep::sdk::SendCallback done = std::move(queue_.front());
            queue_.pop_front();
            lock.unlock();
            done(R"({"schema":"ep.send_result/1","outcome":"sent","request_id":"cpp-)" + std::to_string(++sent) +
                 R"(","attempts":1})");
            lock.lock();
        }
    }

    ep::sdk::Host host_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<ep::sdk::SendCallback> queue_;
    bool stopping_ = false;
    std::thread worker_;  // last: starts after everything it uses
};

}  // namespace

EP_DECLARE_PROVIDER(ExampleProvider, "Example C++ provider", "1.0.0", EP_CAP_HTML_BODY)
