#include "ep_kit/http_engine.hpp"

#include "ep_kit/ascii.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <future>
#include <mutex>
#include <queue>
#include <stdexcept>
#include <thread>

namespace ep::kit {
namespace {

// Responses larger than this are refused: nothing a provider calls answers with more
// (tokens, profiles, API errors), and a hostile or broken server must not exhaust memory.
constexpr std::size_t kMaxResponseBytes = 1 << 20;

// Easy handles kept for reuse: enough for a full set of concurrent transfers.
constexpr std::size_t kMaxIdleHandles = 512;

// libcurl must be initialised once per process before any thread uses it.
void global_init_once() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// Failures that happen before a single byte of the request could reach the server.
bool fails_before_sending(CURLcode code) {
    switch (code) {
        case CURLE_UNSUPPORTED_PROTOCOL:
        case CURLE_URL_MALFORMAT:
        case CURLE_COULDNT_RESOLVE_PROXY:
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_CONNECT:
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CIPHER:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_ISSUER_ERROR:
        case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        case CURLE_SSL_INVALIDCERTSTATUS:
            return true;
        default:
            return false;
    }
}

}  // namespace

class HttpEngine::Impl {
public:
    Impl(TlsSettings tls, long max_connections) : tls_(std::move(tls)) {
        global_init_once();
        multi_ = curl_multi_init();
        if (!multi_) throw std::runtime_error("libcurl: cannot create a multi handle");
        curl_multi_setopt(multi_, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
        curl_multi_setopt(multi_, CURLMOPT_MAX_TOTAL_CONNECTIONS, max_connections);
        curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, max_connections);
        thread_ = std::thread([this] { run(); });
    }

    ~Impl() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        curl_multi_wakeup(multi_);
        thread_.join();
        for (CURL* e : idle_handles_) curl_easy_cleanup(e);
        curl_multi_cleanup(multi_);
    }

    void submit(HttpRequest request, Done done) {
        {
            std::lock_guard lock(mutex_);
            if (!stopping_) {
                incoming_.push_back(Pending{std::move(request), std::move(done)});
                // From a completion on the I/O thread itself, the loop picks it up next round.
                if (!on_io_thread()) curl_multi_wakeup(multi_);
                return;
            }
        }
        // Stopping: the request will never start.
        HttpResponse r;
        r.failure = TransferFailure::cancelled;
        r.error = "cancelled: the plugin is shutting down";
        done(std::move(r));
    }

    void schedule(std::chrono::steady_clock::time_point when, std::function<void(bool)> fn) {
        std::lock_guard lock(mutex_);
        timers_.push(Timer{when, next_timer_seq_++, std::move(fn)});
        curl_multi_wakeup(multi_);
    }

    bool on_io_thread() const { return std::this_thread::get_id() == thread_.get_id(); }
    int64_t connections_opened() const { return connections_opened_.load(); }

private:
    struct Pending {
        HttpRequest request;
        Done done;
    };

    struct Transfer {
        CURL* easy = nullptr;
        curl_slist* header_list = nullptr;
        HttpRequest request;
        HttpResponse response;
        Done done;
        curl_off_t uploaded = 0;
        std::size_t read_offset = 0;
        bool too_large = false;
        std::chrono::steady_clock::time_point started;
        std::string received;  // moved into the wiping SecretString when done

        std::string_view body() const {
            return request.shared_body ? std::string_view(*request.shared_body) : request.body.view();
        }
    };

    struct Timer {
        std::chrono::steady_clock::time_point when;
        uint64_t seq;
        std::function<void(bool)> fn;
        bool operator>(const Timer& o) const { return when != o.when ? when > o.when : seq > o.seq; }
    };

    static size_t on_body(char* data, size_t size, size_t n, void* user) {
        auto* t = static_cast<Transfer*>(user);
        size_t bytes = size * n;
        if (t->received.size() + bytes > kMaxResponseBytes) {
            t->too_large = true;
            return 0;  // aborts the transfer (CURLE_WRITE_ERROR)
        }
        t->received.append(data, bytes);
        return bytes;
    }

    static bool wanted(const Transfer& t, std::string_view name) {
        if (t.request.wanted_headers.empty()) return true;
        return std::any_of(t.request.wanted_headers.begin(), t.request.wanted_headers.end(),
                           [&](const std::string& w) { return iequals(w, name); });
    }

    static size_t on_header(char* data, size_t size, size_t n, void* user) {
        auto* t = static_cast<Transfer*>(user);
        std::string_view line(data, size * n);
        if (line.starts_with("HTTP/")) {
            t->response.headers.clear();  // a new response (after 100 Continue)
        } else if (auto colon = line.find(':'); colon != std::string_view::npos && wanted(*t, line.substr(0, colon))) {
            std::string_view value = line.substr(colon + 1);
            while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
            while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' '))
                value.remove_suffix(1);
            t->response.headers[ascii_lower(line.substr(0, colon))] = std::string(value);
        }
        return size * n;
    }

    static size_t on_read_body(char* buffer, size_t size, size_t n, void* user) {
        auto* t = static_cast<Transfer*>(user);
        std::string_view body = t->body();
        size_t chunk = std::min(size * n, body.size() - t->read_offset);
        std::memcpy(buffer, body.data() + t->read_offset, chunk);
        t->read_offset += chunk;
        return chunk;
    }

    static int refuse_rewind(void*, curl_off_t, int) { return CURL_SEEKFUNC_CANTSEEK; }

    static int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t ulnow) {
        auto* t = static_cast<Transfer*>(user);
        t->uploaded = std::max(t->uploaded, ulnow);
        return 0;
    }

    void start(Pending p) {
        auto t = std::make_unique<Transfer>();
        t->request = std::move(p.request);
        t->done = std::move(p.done);
        t->started = std::chrono::steady_clock::now();
        // Handles are reused: set up once, reset between transfers (connections live in the
        // multi handle's cache either way).
        CURL* e = nullptr;
        if (!idle_handles_.empty()) {
            e = idle_handles_.back();
            idle_handles_.pop_back();
        } else {
            e = curl_easy_init();
        }
        if (!e) {
            t->response.failure = TransferFailure::not_sent;
            t->response.error = "libcurl: cannot create a handle";
            t->done(std::move(t->response));
            return;
        }
        t->easy = e;
        curl_easy_setopt(e, CURLOPT_URL, t->request.url.c_str());
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https,http");
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, t->request.connect_timeout_ms);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, t->request.timeout_ms);
        curl_easy_setopt(e, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS));
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
        // TLS verification stays on (libcurl's default); only the trust anchors may change.
        if (!tls_.ca_file.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, tls_.ca_file.c_str());
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &on_body);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get());
        curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &on_header);
        curl_easy_setopt(e, CURLOPT_HEADERDATA, t.get());
        curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, &on_progress);
        curl_easy_setopt(e, CURLOPT_XFERINFODATA, t.get());
        curl_easy_setopt(e, CURLOPT_PRIVATE, t.get());
        for (const auto& h : t->request.headers) t->header_list = curl_slist_append(t->header_list, h.c_str());
        // "Expect: 100-continue" would add a round trip to every large sendMail.
        t->header_list = curl_slist_append(t->header_list, "Expect:");
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->header_list);
        if (t->request.method == "POST") {
            // The body is fed through a read callback that cannot rewind. libcurl silently
            // re-sends a request whose reused connection died before any answer; for a POST
            // that may have been processed (sendMail, a rotating refresh) that would be a
            // duplicate behind our back. Unable to rewind, it reports the failure instead.
            curl_easy_setopt(e, CURLOPT_POST, 1L);
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(t->body().size()));
            curl_easy_setopt(e, CURLOPT_READFUNCTION, &on_read_body);
            curl_easy_setopt(e, CURLOPT_READDATA, t.get());
            curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, &refuse_rewind);
        } else if (t->request.method != "GET") {
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, t->request.method.c_str());
        }
        curl_multi_add_handle(multi_, e);
        t.release();  // owned through CURLOPT_PRIVATE until finish()
    }

    void finish(CURL* e, CURLcode code) {
        Transfer* raw = nullptr;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, &raw);
        std::unique_ptr<Transfer> t(raw);
        curl_multi_remove_handle(multi_, e);

        long status = 0, connects = 0, request_size = 0;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &connects);
        curl_easy_getinfo(e, CURLINFO_REQUEST_SIZE, &request_size);
        connections_opened_ += connects;

        HttpResponse& r = t->response;
        r.curl_code = code;
        r.elapsed_ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t->started)
                .count();
        r.body = SecretString(std::move(t->received));
        if (code == CURLE_OK) {
            r.status = static_cast<int>(status);
        } else {
            r.status = static_cast<int>(status);  // kept when a response started, e.g. a truncated body
            r.error = t->too_large ? "response larger than 1 MiB" : curl_easy_strerror(code);
            bool body_out = request_size > 0 && t->uploaded >= static_cast<curl_off_t>(t->body().size());
            r.failure =
                (fails_before_sending(code) || !body_out) ? TransferFailure::not_sent : TransferFailure::after_sending;
        }
        curl_slist_free_all(t->header_list);
        if (idle_handles_.size() < kMaxIdleHandles) {
            curl_easy_reset(e);
            idle_handles_.push_back(e);
        } else {
            curl_easy_cleanup(e);
        }
        t->request.body.clear();
        for (auto& h : t->request.headers) wipe(h);  // e.g. "Authorization: Bearer ..."
        t->done(std::move(r));
    }

    void run() {
        while (true) {
            std::deque<Pending> incoming;
            std::vector<std::function<void(bool)>> due;
            bool stopping;
            {
                std::lock_guard lock(mutex_);
                incoming.swap(incoming_);
                stopping = stopping_;
                auto now = std::chrono::steady_clock::now();
                while (!timers_.empty() && (stopping || timers_.top().when <= now)) {
                    due.push_back(std::move(const_cast<Timer&>(timers_.top()).fn));
                    timers_.pop();
                }
            }
            for (auto& fn : due) fn(stopping);
            for (auto& p : incoming) {
                if (stopping) {
                    HttpResponse r;
                    r.failure = TransferFailure::cancelled;
                    r.error = "cancelled: the plugin is shutting down";
                    p.done(std::move(r));
                } else {
                    start(std::move(p));
                }
            }

            int running = 0;
            curl_multi_perform(multi_, &running);
            int left = 0;
            while (CURLMsg* msg = curl_multi_info_read(multi_, &left))
                if (msg->msg == CURLMSG_DONE) finish(msg->easy_handle, msg->data.result);

            if (stopping) {
                std::lock_guard lock(mutex_);
                // Done when nothing runs and callbacks queued no new work or timers.
                if (running == 0 && incoming_.empty() && timers_.empty()) return;
            }

            long curl_timeout = -1;
            curl_multi_timeout(multi_, &curl_timeout);
            int wait_ms = 1000;
            if (curl_timeout >= 0) wait_ms = static_cast<int>(std::min<long>(curl_timeout, wait_ms));
            {
                std::lock_guard lock(mutex_);
                if (!incoming_.empty() || stopping_) wait_ms = 0;
                if (!timers_.empty()) {
                    auto until = std::chrono::duration_cast<std::chrono::milliseconds>(timers_.top().when -
                                                                                       std::chrono::steady_clock::now())
                                     .count();
                    wait_ms = static_cast<int>(std::clamp<int64_t>(until, 0, wait_ms));
                }
            }
            if (stopping && running > 0 && wait_ms == 0) wait_ms = 10;  // draining: don't spin
            curl_multi_poll(multi_, nullptr, 0, wait_ms, nullptr);
        }
    }

    TlsSettings tls_;
    CURLM* multi_ = nullptr;
    std::mutex mutex_;
    std::deque<Pending> incoming_;
    std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_;
    uint64_t next_timer_seq_ = 0;
    bool stopping_ = false;
    std::atomic<int64_t> connections_opened_{0};
    std::vector<CURL*> idle_handles_;  // I/O thread only
    std::thread thread_;               // last: starts after everything above exists
};

HttpEngine::HttpEngine(TlsSettings tls, long max_connections)
    : impl_(std::make_unique<Impl>(std::move(tls), max_connections)) {}
HttpEngine::~HttpEngine() = default;

void HttpEngine::submit(HttpRequest request, Done done) { impl_->submit(std::move(request), std::move(done)); }

void HttpEngine::schedule(std::chrono::steady_clock::time_point when, std::function<void(bool)> fn) {
    impl_->schedule(when, std::move(fn));
}

HttpResponse HttpEngine::perform(HttpRequest request) {
    if (impl_->on_io_thread()) throw std::logic_error("HttpEngine::perform called on the I/O thread");
    auto promise = std::make_shared<std::promise<HttpResponse>>();
    auto future = promise->get_future();
    impl_->submit(std::move(request), [promise](HttpResponse&& r) { promise->set_value(std::move(r)); });
    return future.get();
}

bool HttpEngine::on_io_thread() const { return impl_->on_io_thread(); }
int64_t HttpEngine::connections_opened() const { return impl_->connections_opened(); }

}  // namespace ep::kit
