#include "raw_client.hpp"

#include <curl/curl.h>

#include <unistd.h>
#include <algorithm>
#include <cstring>
#include <deque>
#include <stdexcept>

namespace bench {

namespace {

size_t discard(char*, size_t size, size_t n, void*) { return size * n; }

}  // namespace

struct RawClient::Impl {
    Impl(RawTarget t, std::string ca, RawVariant v) : target(std::move(t)), ca_file(std::move(ca)), variant(v) {}
    RawTarget target;
    std::string ca_file;
    RawVariant variant;
    struct Upload {
        const std::string* body;
        std::size_t offset;
    };
    CURLM* multi = nullptr;
    std::vector<CURL*> idle;  // configured easy handles, reused
    uint64_t uuid_state = 0x5eed;

    struct Request {
        std::size_t account = 0;
        Clock::time_point issued;
        curl_slist* headers = nullptr;
        CURL* easy = nullptr;
        Upload upload{nullptr, 0};
    };

    CURL* take_easy() {
        if (!idle.empty()) {
            CURL* e = idle.back();
            idle.pop_back();
            return e;
        }
        CURL* e = curl_easy_init();
        if (!e) throw std::runtime_error("curl_easy_init failed");
        // The same transfer settings as the plugins' HttpEngine (plugin_kit/src/http_engine.cpp).
        curl_easy_setopt(e, CURLOPT_URL, target.url.c_str());
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https,http");
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 30000L);
        curl_easy_setopt(e, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS));
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(e, CURLOPT_CAINFO, ca_file.c_str());
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &discard);
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        if (!variant.read_callback_upload) curl_easy_setopt(e, CURLOPT_POSTFIELDS, target.body.data());  // not copied
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(target.body.size()));
        return e;
    }

    static size_t read_body(char* buffer, size_t size, size_t n, void* user) {
        auto* u = static_cast<Upload*>(user);
        size_t chunk = std::min(size * n, u->body->size() - u->offset);
        std::memcpy(buffer, u->body->data() + u->offset, chunk);
        u->offset += chunk;
        return chunk;
    }

    void give_back(CURL* e) {
        if (variant.fresh_easy_handles)
            curl_easy_cleanup(e);
        else
            idle.push_back(e);
    }
};

RawClient::RawClient(RawTarget target, std::string ca_file, long max_connections, RawVariant variant)
    : impl_(new Impl(std::move(target), std::move(ca_file), variant)) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    impl_->multi = curl_multi_init();
    curl_multi_setopt(impl_->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    curl_multi_setopt(impl_->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, max_connections);
    curl_multi_setopt(impl_->multi, CURLMOPT_MAXCONNECTS, max_connections);
}

RawClient::~RawClient() {
    for (CURL* e : impl_->idle) curl_easy_cleanup(e);
    curl_multi_cleanup(impl_->multi);
    delete impl_;
}

LoadRun RawClient::run(const std::vector<std::string>& tokens, const LoadSpec& spec, pid_t sandbox_pid) {
    Impl& im = *impl_;
    using Request = Impl::Request;
    const std::size_t accounts = tokens.size();
    std::vector<std::string> auth;
    for (const auto& t : tokens) auth.push_back("Authorization: Bearer " + t);
    std::vector<int> in_flight(accounts, 0);
    std::vector<std::deque<Request*>> waiting(accounts);
    std::size_t next_account = 0;
    int outstanding = 0;  // logical requests issued and not completed

    LoadRun result;
    const auto start = Clock::now();
    const auto measure_from =
        start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(spec.warmup_s));
    const auto measure_to =
        measure_from + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(spec.measure_s));
    bool measuring = false, stopping = false;
    double cpu0 = 0, sb0 = 0;

    auto start_transfer = [&](Request* r) {
        r->easy = im.take_easy();
        // Same headers as the plugin, in the same order, plus the same "Expect:" suppression.
        r->headers = curl_slist_append(nullptr, auth[r->account].c_str());
        for (const RawHeader& h : im.target.headers)
            r->headers = curl_slist_append(r->headers,
                                           h.fresh_uuid ? (h.text + fast_uuid(im.uuid_state)).c_str() : h.text.c_str());
        r->headers = curl_slist_append(r->headers, "Expect:");
        curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
        curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
        if (im.variant.read_callback_upload) {
            r->upload = Impl::Upload{&im.target.body, 0};
            curl_easy_setopt(r->easy, CURLOPT_READFUNCTION, &Impl::read_body);
            curl_easy_setopt(r->easy, CURLOPT_READDATA, &r->upload);
        }
        ++in_flight[r->account];
        curl_multi_add_handle(im.multi, r->easy);
    };
    auto issue = [&] {
        auto* r = new Request;
        r->account = next_account++ % accounts;
        r->issued = Clock::now();
        ++outstanding;
        if (spec.per_account_cap > 0 && in_flight[r->account] >= spec.per_account_cap)
            waiting[r->account].push_back(r);
        else
            start_transfer(r);
    };

    while (true) {
        auto now = Clock::now();
        if (!measuring && now >= measure_from) {
            measuring = true;
            cpu0 = process_cpu_seconds(getpid());
            sb0 = process_cpu_seconds(sandbox_pid);
        }
        if (measuring && !stopping && now >= measure_to) {
            stopping = true;
            result.client_cpu_s = process_cpu_seconds(getpid()) - cpu0;
            result.sandbox_cpu_s = process_cpu_seconds(sandbox_pid) - sb0;
            result.window_s = std::chrono::duration<double>(measure_to - measure_from).count();
        }
        if (!stopping)
            while (outstanding < spec.concurrency) issue();
        if (stopping && outstanding == 0) break;

        int running = 0;
        curl_multi_perform(im.multi, &running);
        int left = 0;
        while (CURLMsg* msg = curl_multi_info_read(im.multi, &left)) {
            if (msg->msg != CURLMSG_DONE) continue;
            CURL* e = msg->easy_handle;
            CURLcode code = msg->data.result;
            Request* r = nullptr;
            curl_easy_getinfo(e, CURLINFO_PRIVATE, &r);
            long status = 0;
            curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
            curl_multi_remove_handle(im.multi, e);
            im.give_back(e);
            curl_slist_free_all(r->headers);
            auto done = Clock::now();
            if (done >= measure_from && done <= measure_to) {  // the window is by timestamps only
                if (code == CURLE_OK && status == im.target.success_status) {
                    ++result.ok;
                    result.latency_us.push_back(us_between(r->issued, done));
                } else {
                    ++result.failed;
                    if (result.first_failure.empty())
                        result.first_failure =
                            code != CURLE_OK ? curl_easy_strerror(code) : "HTTP " + std::to_string(status);
                }
            }
            --in_flight[r->account];
            --outstanding;
            if (!waiting[r->account].empty()) {
                Request* w = waiting[r->account].front();
                waiting[r->account].pop_front();
                start_transfer(w);
            }
            delete r;
            if (!stopping)
                while (outstanding < spec.concurrency) issue();
        }
        int wait_ms = 100;
        long curl_timeout = -1;
        curl_multi_timeout(im.multi, &curl_timeout);
        if (curl_timeout >= 0 && curl_timeout < wait_ms) wait_ms = static_cast<int>(curl_timeout);
        curl_multi_poll(im.multi, nullptr, 0, wait_ms, nullptr);
    }
    return result;
}

}  // namespace bench
