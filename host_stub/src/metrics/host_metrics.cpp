#include "metrics/host_metrics.hpp"

#include "providers/host_services.hpp"

#include "core/host_util.hpp"

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <array>
#include <map>
#include <mutex>

namespace host {
namespace {

namespace prom = prometheus;
using SteadyClock = std::chrono::steady_clock;

// From a nudge that goes out at once (tens of milliseconds) to one that waited out a throttle,
// a backoff or its mailbox's pacing (up to an hour; longer ones land in +Inf).
const prom::Histogram::BucketBoundaries kQueueToSentBuckets{0.05, 0.1, 0.25, 0.5, 1,   2.5,  5,   10,
                                                            30,   60,  120,  300, 600, 1800, 3600};
// The page's handler time: Prometheus's usual default buckets (client_golang's DefBuckets).
const prom::Histogram::BucketBoundaries kHttpBuckets{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

// The states a nudge waits in. Sent and failed are history, counted by ep_host_sends_total;
// leaving them out keeps the scrape's query on the live rows however large the table grows.
constexpr std::array kWaitingStates{NudgeState::queued, NudgeState::sending, NudgeState::throttled,
                                    NudgeState::paced,  NudgeState::held,    NudgeState::needs_review};

std::string status_class(int status) {
    if (status < 100 || status > 599) return "other";
    return std::to_string(status / 100) + "xx";
}

template <typename T>
prom::Family<T>& family(prom::detail::Builder<T> builder, std::string_view name, std::string_view help,
                        prom::Registry& registry) {
    return builder.Name(std::string(name)).Help(std::string(help)).Register(registry);
}

}  // namespace

// Also the collectable the endpoint serves: a scrape refreshes the outbox depth, then reads the registry.
struct HostMetrics::Impl : prom::Collectable {
    std::shared_ptr<prom::Registry> registry = std::make_shared<prom::Registry>();
    prom::Family<prom::Counter>& sends =
        family(prom::BuildCounter(), "ep_host_sends_total",
               "Sends whose outcome the outbox recorded, by provider and ep.send_result/1 outcome.", *registry);
    prom::Family<prom::Histogram>& queued_to_sent =
        family(prom::BuildHistogram(), "ep_host_send_queue_to_sent_seconds",
               "Time from a nudge's queueing to its recorded sent outcome, by provider.", *registry);
    prom::Family<prom::Counter>& token_refreshes =
        family(prom::BuildCounter(), "ep_host_token_refreshes_total",
               "Token refreshes the providers reported, by provider and result.", *registry);
    prom::Family<prom::Counter>& checks =
        family(prom::BuildCounter(), "ep_host_connection_checks_total",
               "Connection checks answered, by provider and result (the state found, failed or unchecked).", *registry);
    prom::Family<prom::Counter>& crashes =
        family(prom::BuildCounter(), "ep_host_provider_runner_crashes_total",
               "Provider runners that stopped unexpectedly or failed to start again, by provider.", *registry);
    prom::Family<prom::Counter>& restarts =
        family(prom::BuildCounter(), "ep_host_provider_runner_restarts_total",
               "Provider runners started again after a crash, by provider.", *registry);
    prom::Family<prom::Counter>& quarantines =
        family(prom::BuildCounter(), "ep_host_provider_runner_quarantines_total",
               "Providers quarantined after crashing too often, by provider.", *registry);
    prom::Family<prom::Histogram>& http =
        family(prom::BuildHistogram(), "ep_host_http_request_duration_seconds",
               "Time the settings page took to answer a request, by route pattern and status class.", *registry);
    prom::Family<prom::Gauge>& depth = family(prom::BuildGauge(), "ep_host_outbox_nudges",
                                              "Nudges waiting in the outbox, by state (read when scraped).", *registry);
    prom::Family<prom::Counter>& depth_errors =
        family(prom::BuildCounter(), "ep_host_outbox_depth_read_errors_total",
               "Scrapes whose outbox depth could not be read from the store (the last values were kept).", *registry);

    mutable std::mutex depth_mutex;  // one store query at a time; guards the fields below
    OutboxStore* store = nullptr;
    std::chrono::milliseconds cache_for{0};
    mutable SteadyClock::time_point read_at{};
    mutable bool read_once = false;

    std::vector<prom::MetricFamily> Collect() const override {
        refresh_depth();
        return registry->Collect();
    }

    void refresh_depth() const {
        std::lock_guard lock(depth_mutex);
        if (store == nullptr || (read_once && SteadyClock::now() - read_at < cache_for)) return;
        read_at = SteadyClock::now();
        read_once = true;
        try {
            std::map<NudgeState, int64_t> counts = store->count_by_state(kWaitingStates);
            for (NudgeState s : kWaitingStates)
                depth.Add({{"state", to_string(s)}}).Set(static_cast<double>(counts[s]));
        } catch (const std::exception&) {
            depth_errors.Add({}).Increment();
        }
    }
};

MetricsEndpoint::MetricsEndpoint(std::unique_ptr<prometheus::Exposer> exposer, uint16_t port)
    : exposer_(std::move(exposer)), port_(port) {}

MetricsEndpoint::~MetricsEndpoint() = default;

HostMetrics::HostMetrics() : impl_(std::make_shared<Impl>()) {
    // Present from the first scrape, so that rate() and alerts see them start at zero.
    impl_->depth_errors.Add({});
}

HostMetrics::~HostMetrics() = default;

void HostMetrics::send_recorded(std::string_view provider, SendOutcome outcome) {
    impl_->sends.Add({{"provider", std::string(provider)}, {"outcome", to_string(outcome)}}).Increment();
}

void HostMetrics::queued_to_sent(std::string_view provider, double seconds) {
    impl_->queued_to_sent.Add({{"provider", std::string(provider)}}, kQueueToSentBuckets)
        .Observe(std::max(seconds, 0.0));
}

void HostMetrics::token_refresh(std::string_view provider, std::string_view result) {
    const std::string counted(counted_outcome("token_refresh", result).value_or("other"));
    impl_->token_refreshes.Add({{"provider", std::string(provider)}, {"result", counted}}).Increment();
}

void HostMetrics::connection_check(std::string_view provider, std::string_view result) {
    impl_->checks.Add({{"provider", std::string(provider)}, {"result", std::string(result)}}).Increment();
}

void HostMetrics::runner_event(std::string_view provider, ep::loader::RunnerEvent event) {
    using ep::loader::RunnerEvent;
    auto& counters = event == RunnerEvent::crashed     ? impl_->crashes
                     : event == RunnerEvent::restarted ? impl_->restarts
                                                       : impl_->quarantines;
    counters.Add({{"provider", std::string(provider)}}).Increment();
}

void HostMetrics::http_request(std::string_view route, int status, double seconds) {
    impl_->http.Add({{"route", std::string(route)}, {"status_class", status_class(status)}}, kHttpBuckets)
        .Observe(std::max(seconds, 0.0));
}

void HostMetrics::watch_outbox(OutboxStore& store, std::chrono::milliseconds cache_for) {
    std::lock_guard lock(impl_->depth_mutex);
    impl_->store = &store;
    impl_->cache_for = cache_for;
    impl_->read_once = false;
}

std::unique_ptr<MetricsEndpoint> HostMetrics::serve(const std::string& listen) {
    std::unique_ptr<prom::Exposer> exposer;
    try {
        // civetweb's listening_ports ("127.0.0.1:9464"); one thread is plenty for scrapes.
        exposer = std::make_unique<prom::Exposer>(listen, 1);
    } catch (const std::exception& e) {
        throw std::runtime_error("metrics.listen: cannot listen on " + listen + ": " + e.what());
    }
    exposer->RegisterCollectable(impl_);
    std::vector<int> ports = exposer->GetListeningPorts();
    if (ports.empty()) throw std::runtime_error("metrics.listen: cannot listen on " + listen);
    return std::make_unique<MetricsEndpoint>(std::move(exposer), static_cast<uint16_t>(ports.front()));
}

std::string HostMetrics::text() const { return prom::TextSerializer().Serialize(impl_->Collect()); }

std::string connection_check_result(const boost::json::object& status) {
    if (status.contains("check_failed")) return "failed";
    if (!status.contains("checked_at")) return "unchecked";
    return to_string(connection_state_from(json_str(status, "state")));
}

}  // namespace host
