// The mock provider (see mock_provider.cpp): the class the SDK exports, compiled once and
// linked into every variant of the plugin.
#pragma once

#include <email_provider/ep_sdk.hpp>

#include <memory>

namespace mock {

inline constexpr uint64_t kCapabilities =
    EP_CAP_HTML_BODY | EP_CAP_ATTACHMENTS | EP_CAP_CUSTOM_HEADERS | EP_CAP_THREADING;

class MockProvider : public ep::sdk::Provider {
public:
    MockProvider(ep::sdk::Host host, std::string_view config_json);
    ~MockProvider() override;

    std::string begin_connect(std::string_view account, std::string_view request_json) override;
    std::string complete_connect(std::string_view account, std::string_view callback_json) override;
    std::string status(std::string_view account) override;
    std::string disconnect(std::string_view account) override;
    std::string forget_account(std::string_view account) override;
    ep::sdk::SendAdmission send(std::string_view account, std::string_view message_json,
                                ep::sdk::SendCallback done) override;
    void check_connection(std::string_view account, ep::sdk::CheckCallback done) override;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace mock
