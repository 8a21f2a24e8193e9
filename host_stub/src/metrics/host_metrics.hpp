// The host's Prometheus metrics (README.md, "Metrics"): counters and histograms that the
// outbox, the connection checks, the settings page and the isolated providers' supervisors
// move, and the outbox depth read from the store when scraped. Served on its own listen
// address (config "metrics": {"listen": "address:port"}) by prometheus-cpp's Exposer (civetweb,
// on its own threads); the text format is prometheus-cpp's, never written here.
//
// Labels stay bounded: provider ids from the config or a manifest, and values from fixed
// vocabularies (send outcomes, check results, route patterns). Never an account, an address or
// a token. Every method is thread-safe; components take a HostMetrics* that may be null.
#pragma once

#include "providers/documents.hpp"
#include "store/outbox_store.hpp"

#include <email_provider/isolation.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace prometheus {
class Exposer;
}

namespace host {

// /metrics on its own address, for as long as it lives (HostMetrics::serve).
class MetricsEndpoint {
public:
    explicit MetricsEndpoint(std::unique_ptr<prometheus::Exposer> exposer, uint16_t port);
    ~MetricsEndpoint();  // stops serving: its threads are joined
    MetricsEndpoint(const MetricsEndpoint&) = delete;
    MetricsEndpoint& operator=(const MetricsEndpoint&) = delete;
    uint16_t port() const { return port_; }

private:
    std::unique_ptr<prometheus::Exposer> exposer_;
    uint16_t port_;
};

class HostMetrics {
public:
    HostMetrics();
    ~HostMetrics();
    HostMetrics(const HostMetrics&) = delete;
    HostMetrics& operator=(const HostMetrics&) = delete;

    // A send's outcome, once the outbox recorded it.
    void send_recorded(std::string_view provider, SendOutcome outcome);
    // A sent nudge: from its queueing to the outcome being recorded, in seconds.
    void queued_to_sent(std::string_view provider, double seconds);
    // A plugin's token refresh and its result: a token_refresh outcome of plugin_api/SCHEMAS.md
    // "events" (ok, invalid_grant, transient, conflict, ...); any other value is counted as
    // "other", so that a plugin cannot add label values.
    void token_refresh(std::string_view provider, std::string_view result);
    // A connection check's answer: the state it found, "failed" or "unchecked"
    // (connection_check_result).
    void connection_check(std::string_view provider, std::string_view result);
    // What an isolated provider's supervisor reported (IsolationOptions::on_runner_event).
    void runner_event(std::string_view provider, ep::loader::RunnerEvent event);
    // A request the settings page answered: its route pattern (never the raw path), status and time.
    void http_request(std::string_view route, int status, double seconds);

    // The outbox depth by state is read from `store` when scraped, at most once per
    // `cache_for`: scrapes by several servers cost one query. `store` outlives the metrics.
    void watch_outbox(OutboxStore& store, std::chrono::milliseconds cache_for = std::chrono::seconds(5));

    // Serves /metrics on `listen` ("127.0.0.1:9464"; port 0: any free port) until
    // the endpoint is destroyed, which must happen before the watched store goes. Throws
    // std::runtime_error naming the address when it cannot listen there.
    std::unique_ptr<MetricsEndpoint> serve(const std::string& listen);
    // What a scrape returns now (tests, tools).
    std::string text() const;

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;  // shared with the Exposer through a weak_ptr
};

// The result label of a connection check's answer (an ep.status/1 document): "failed" when the
// check could not ask the service, "unchecked" when the provider answered its last known state
// without asking, else the state found (to_string(ConnectionState)).
std::string connection_check_result(const boost::json::object& status);

}  // namespace host
