// A provider that counts one event (ABI 1.3 count_event) each time its status is read, through
// the SDK's Host, so that tests can see where an event goes without a token endpoint: to the host
// in this process, across a runner's channel, or nowhere in a host too old to lend count_event.
#include <email_provider/ep_sdk.hpp>

#include <string>
#include <string_view>

namespace {

class EventProbe final : public ep::sdk::Provider {
public:
    EventProbe(ep::sdk::Host host, std::string_view /*config_json*/) : host_(host) {}

    std::string status(std::string_view /*account*/) override {
        host_.count_event("token_refresh", "ok");
        return R"({"schema":"ep.status/1","state":"not_connected"})";
    }
    std::string begin_connect(std::string_view, std::string_view) override { return unsupported(); }
    std::string complete_connect(std::string_view, std::string_view) override { return unsupported(); }
    std::string disconnect(std::string_view) override { return unsupported(); }
    std::string forget_account(std::string_view) override { return unsupported(); }
    ep::sdk::SendAdmission send(std::string_view, std::string_view, ep::sdk::SendCallback) override {
        unsupported();
        return {};
    }

private:
    [[noreturn]] static std::string unsupported() {
        throw ep::sdk::Error(EP_ERR_UNSUPPORTED, "unsupported", "the event probe only reads status");
    }
    ep::sdk::Host host_;
};

}  // namespace

EP_DECLARE_PROVIDER(EventProbe, "Event probe", "1.0.0", 0);
