// check_connection for every provider: a forced refresh (a password change, an administrator's
// revoke and a removed permission show at the token endpoint, and a refreshed grant never dies
// of disuse), then the provider's "who am I" request with the new token (a session the service
// ended shows there). The answer is the stored status with checked_at, or check_failed when
// the service could not be asked. The destructor waits for checks in flight: no callback runs
// after the provider is gone.
#pragma once

#include "ep_kit/http_engine.hpp"
#include "ep_kit/token_manager.hpp"

#include <email_provider/ep_sdk.hpp>

#include <boost/json/object.hpp>

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace ep::kit {

// What the service's answer to the identity request means.
struct ProbeVerdict {
    enum class Kind {
        confirmed,  // the connection works
        failed,     // the service could not be asked: nothing was confirmed (code, message)
        ended,      // the service refused the fresh token: the connection ends (end)
    };
    Kind kind = Kind::confirmed;
    std::string code;
    std::string message;
    ConnectionEnd end;
};

class ConnectionChecker {
public:
    struct Probe {
        std::function<HttpRequest(std::string_view access_token)> request;
        std::function<ProbeVerdict(const HttpResponse&)> read;  // transfer failures included
    };
    using StatusBuilder = std::function<boost::json::object(std::string_view account)>;

    ConnectionChecker(TokenManager& tokens, HttpEngine& http, ep::sdk::Host host, std::string provider_name,
                      StatusBuilder status, Probe probe);
    ~ConnectionChecker();

    // `done` runs once, on a worker or I/O thread, never inside this call.
    void check(std::string_view account, ep::sdk::CheckCallback done);

private:
    struct Check;
    void with_token(const std::shared_ptr<Check>& check, TokenOutcome token);
    void on_answer(const std::shared_ptr<Check>& check, HttpResponse&& response);
    void finish(const std::shared_ptr<Check>& check, std::string_view failed_code = {},
                std::string_view failed_message = {});

    TokenManager& tokens_;
    HttpEngine& http_;
    ep::sdk::Host host_;
    const std::string provider_name_;
    StatusBuilder status_;
    Probe probe_;
    std::mutex mutex_;
    std::condition_variable idle_;
    int in_flight_ = 0;
};

}  // namespace ep::kit
