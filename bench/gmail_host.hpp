// The Personal Gmail plugin's side of load_driver: its config against the Google stand-in, its
// accounts connected through its own sign-in, and the request raw libcurl repeats. A library of
// its own (load_driver_gmail): the Gmail and Outlook plugins' sources each have a "uses_kit.hpp",
// so one translation unit cannot include both plugins' headers.
#pragma once

#include "plugin_host.hpp"
#include "raw_client.hpp"
#include "sandbox_process.hpp"

#include <email_provider/provider_loader.hpp>

#include <filesystem>
#include <string>
#include <vector>

namespace bench {

// The tests' base_config (tests/gmail/gmail_fixture.hpp) against the stand-in at `base_url`: its
// five Google hosts, its CA, the default scenario's web client with the secret the build
// generated, the token key from `key_file`, send.max_throttle_wait_seconds 5 (as Outlook's).
std::string gmail_config(const std::string& base_url, const std::string& ca_file, const std::filesystem::path& tls_dir,
                         const std::filesystem::path& key_file);

// Connects accounts[i] as the stand-in's users[i] the way a user does: begin_connect with the
// user as login_hint, the stand-in's pages (chooser and consent) through POST
// /_sandbox/autopilot, complete_connect with the callback URL. Throws unless each is connected.
void connect_gmail_accounts(ep::loader::Provider& plugin, const SandboxProcess& sandbox,
                            const std::vector<std::string>& accounts, const std::vector<std::string>& users);

// What raw libcurl sends for `accounts`: the access token the plugin stored for each (unsealed with
// the key ring `config_json` names), and the request the plugin makes for `message_json` from the
// first account (gmail::build_send_request, the plugin's own call: {"raw": base64url(the RFC 5322
// message GMime builds)}, the same headers as GmailSend::request). `build_us`: what the plugin
// does to every message before sending it (parse_message + build_send_request), timed alone.
struct GmailRawLoad {
    RawTarget target;
    std::vector<std::string> tokens;
    double build_us = 0;  // mean of 1,000 calls, one thread
};
GmailRawLoad gmail_raw_load(PluginHost& host, const std::string& config_json, const std::vector<std::string>& accounts,
                            const std::string& message_json);

}  // namespace bench
