// The host's users and their communication settings.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace host {

struct User {
    std::string id;
    std::string display_name;
};

struct CommunicationSettings {
    std::string preferred_channel = "email";
    std::string email_provider;  // provider id; empty until chosen
};

// Every method commits before it returns and throws StoreError on an engine failure.
class UserStore {
public:
    virtual ~UserStore() = default;

    virtual void upsert_user(const User& user) = 0;
    virtual std::optional<User> user(const std::string& id) = 0;
    virtual void delete_user(const std::string& id) = 0;  // cascades to settings, outbox and checks
    virtual CommunicationSettings settings(const std::string& user_id) = 0;
    virtual void save_settings(const std::string& user_id, const CommunicationSettings& s) = 0;
    // (user id, email provider) of every user who chose one: one query however many users there
    // are (the keep-alive sweep lists them all, a million on a large deployment).
    virtual std::vector<std::pair<std::string, std::string>> email_providers() = 0;
};

}  // namespace host
