// The HTML of Settings > Communication, one renderer per part: an integration card, the
// preferences, the outbox. They only turn what they are given into escaped HTML (no store, no
// provider calls), so the page and the fragments its script reloads (the outbox, the cards
// while a connection check runs) come from the same code. Every word about a provider comes
// from its documents (ProviderStatus) or its manifest.
#pragma once

#include "outbox/sending_limits.hpp"
#include "providers/documents.hpp"
#include "store/host_store.hpp"

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace host::view {

std::string esc(std::string_view text);
std::string hidden_csrf(const std::string& csrf);
// An ISO 8601 UTC time ("2026-11-29T09:00:00Z") as a <time> element readable without script
// ("29 Nov 2026, 09:00 UTC"), which the page's script turns into the reader's local time.
std::string time_element(const std::string& iso);

// One configured provider as its card shows it.
struct Card {
    std::string id;    // "unknown" when the manifest could not be read
    std::string name;  // the manifest's display name (what is chosen for nudges)
    bool available = false;
    std::string load_error;    // why not available
    bool loaded = false;       // it loaded, and was put aside later (a quarantined runner)
    bool interactive = false;  // connecting sends the user to the provider (manifest capability)
    ProviderStatus status;
    bool checking = false;  // a connection check is under way
    bool chosen = false;    // the user's email provider, with Email as channel

    std::string title() const { return status.service_name.empty() ? name : status.service_name; }
    bool connected() const { return status.state == ConnectionState::connected; }
    // A provider that needs no sign-in connects when chosen; the others must be connected first.
    bool choosable() const { return available && (connected() || !interactive); }
};

std::string integration_card(const Card& card, const std::string& csrf);
// All cards, inside the element the page's script replaces while a check runs.
std::string integrations(const std::vector<Card>& cards, const std::string& csrf);
std::string preferences(const std::vector<Card>& cards, const CommunicationSettings& settings, const std::string& csrf);

// How the outbox names the provider of a nudge: its display name and the account's mailbox
// (empty when the provider knows none).
struct Via {
    std::string name;
    std::string mailbox;
    bool connected = false;
};
// `caption`: daily_allowance's, or empty.
std::string outbox(const std::vector<Nudge>& nudges, const std::map<std::string, Via>& via, const std::string& csrf,
                   std::string_view caption = {});
// The outbox's caption: what the connected mailbox may still send today (empty: nothing to say).
std::string daily_allowance(const std::optional<DailyAllowance>& allowance);

// The page's script (served as /settings/page.js: the Content-Security-Policy allows no inline
// script): confirmations, copy buttons, local times, and the live outbox and cards.
const char* script();

}  // namespace host::view
