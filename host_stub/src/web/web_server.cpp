#include "web/web_server.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <sys/resource.h>

#include <atomic>
#include <optional>
#include <thread>

namespace host {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr std::size_t kMaxBodyBytes = 1 << 20;  // forms are small; refuse anything bigger
constexpr auto kIdleTimeout = std::chrono::seconds(30);
// After a failed accept (typically EMFILE: out of file descriptors) the pending connection is
// still in the backlog, so retrying at once would spin; wait, doubling up to a second.
constexpr auto kFirstAcceptRetry = std::chrono::milliseconds(10);
constexpr auto kLastAcceptRetry = std::chrono::milliseconds(1000);

// What every session shares with the server: the handler, the pool it runs on, and the
// count of open connections (a session holds one from construction to destruction).
struct Shared {
    WebServer::Handler handler;
    asio::thread_pool* handler_pool = nullptr;
    std::atomic<std::size_t> connections{0};
};

class Session : public std::enable_shared_from_this<Session> {
public:
    Session(tcp::socket socket, Shared& shared) : stream_(std::move(socket)), shared_(shared) { ++shared_.connections; }
    ~Session() { --shared_.connections; }

    void start() { read(); }

private:
    void read() {
        parser_.emplace();
        parser_->body_limit(kMaxBodyBytes);
        stream_.expires_after(kIdleTimeout);
        http::async_read(stream_, buffer_, *parser_,
                         [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
    }

    void on_read(beast::error_code ec) {
        if (ec == http::error::end_of_stream || ec == beast::error::timeout) return close();
        if (ec) {
            if (ec == http::error::body_limit)
                return reply_error(http::status::payload_too_large, "request body too large");
            return close();
        }
        auto& req = parser_->get();
        WebRequest r;
        r.method = std::string(req.method_string());
        r.target = std::string(req.target());
        for (const auto& f : req) {
            std::string name(f.name_string());
            for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            r.headers[name] = std::string(f.value());
        }
        r.body = std::move(req.body());
        // The handler may wait on a provider: run it on the handler pool, then write the
        // answer from this connection's strand again.
        asio::post(*shared_.handler_pool, [self = shared_from_this(), r = std::move(r), keep_alive = req.keep_alive()] {
            WebResponse out;
            try {
                out = self->shared_.handler(r);
            } catch (const std::exception& e) {
                out = WebResponse{
                    500, {{"Content-Type", "text/plain; charset=utf-8"}}, std::string("internal error: ") + e.what()};
            }
            asio::post(self->stream_.get_executor(),
                       [self, out = std::move(out), keep_alive]() mutable { self->send(std::move(out), keep_alive); });
        });
    }

    void reply_error(http::status status, const char* text) {
        send(WebResponse{static_cast<int>(status), {{"Content-Type", "text/plain; charset=utf-8"}}, text}, false);
    }

    void send(WebResponse out, bool keep_alive) {
        auto res = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(out.status), 11);
        for (auto& [name, value] : out.headers) res->insert(name, value);
        res->body() = std::move(out.body);
        res->keep_alive(keep_alive);
        res->prepare_payload();
        http::async_write(stream_, *res,
                          [self = shared_from_this(), res, keep_alive](beast::error_code ec, std::size_t) {
                              if (ec || !keep_alive) return self->close();
                              self->read();
                          });
    }

    void close() {
        beast::error_code ignored;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    }

    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    Shared& shared_;
};

}  // namespace

struct WebServer::Impl {
    explicit Impl(WebServerOptions o)
        : options(std::move(o)), handler_pool(static_cast<std::size_t>(options.handler_threads)) {
        shared.handler_pool = &handler_pool;
    }

    WebServerOptions options;
    Shared shared;  // before io: sessions that io still holds are destroyed with it
    asio::io_context io;
    tcp::acceptor acceptor{io};
    asio::steady_timer accept_retry{io};
    asio::steady_timer heartbeat_timer{io};
    std::chrono::milliseconds accept_retry_delay = kFirstAcceptRetry;
    bool refusing = false;  // at the connection limit; warned once until a connection is taken again
    asio::thread_pool handler_pool;
    std::vector<std::thread> io_threads;

    void warn(const std::string& text) {
        if (options.warn) options.warn(text);
    }

    // One accept is outstanding at a time, so these members are only touched by its handler.
    void accept() {
        acceptor.async_accept(asio::make_strand(io), [this](beast::error_code ec, tcp::socket socket) {
            if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;  // shutting down
            if (ec) return accept_later(ec);
            accept_retry_delay = kFirstAcceptRetry;
            if (shared.connections.load() >= options.max_connections) {
                if (!std::exchange(refusing, true))
                    warn("web: " + std::to_string(options.max_connections) +
                         " connections are open (web.max_connections); closing new ones until some end");
                beast::error_code ignored;
                socket.close(ignored);
            } else {
                refusing = false;
                std::make_shared<Session>(std::move(socket), shared)->start();
            }
            accept();
        });
    }

    // A timer on the I/O threads' own loop, not a thread of its own: if that loop stops turning
    // (every I/O thread stuck), the heartbeats stop with it.
    void beat_later() {
        if (options.heartbeat_interval.count() <= 0 || !options.heartbeat) return;
        heartbeat_timer.expires_after(options.heartbeat_interval);
        heartbeat_timer.async_wait([this](beast::error_code ec) {
            if (ec || !acceptor.is_open()) return;  // shutting down
            options.heartbeat();
            beat_later();
        });
    }

    void accept_later(const beast::error_code& ec) {
        warn("web: cannot accept a connection (" + ec.message() + "); retrying in " +
             std::to_string(accept_retry_delay.count()) + " ms");
        accept_retry.expires_after(accept_retry_delay);
        accept_retry_delay = std::min<std::chrono::milliseconds>(accept_retry_delay * 2, kLastAcceptRetry);
        accept_retry.async_wait([this](beast::error_code wait_ec) {
            if (!wait_ec && acceptor.is_open()) accept();
        });
    }
};

WebServer::WebServer(const std::string& address, uint16_t port, Handler handler, WebServerOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {
    impl_->shared.handler = std::move(handler);
    beast::error_code ec;
    auto addr = asio::ip::make_address(address, ec);
    if (ec) throw std::runtime_error("web.listen_address \"" + address + "\" is not an IP address");
    tcp::endpoint endpoint(addr, port);
    impl_->acceptor.open(endpoint.protocol(), ec);
    if (!ec) impl_->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) impl_->acceptor.bind(endpoint, ec);
    if (!ec) impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw std::runtime_error("cannot listen on " + address + ":" + std::to_string(port) + ": " + ec.message());
    rlimit files{};
    if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY &&
        impl_->options.max_connections + 64 > files.rlim_cur)
        impl_->warn("web: web.max_connections (" + std::to_string(impl_->options.max_connections) +
                    ") leaves less than 64 of the process's " + std::to_string(files.rlim_cur) +
                    " file descriptors for the store and the providers");
    impl_->accept();
    impl_->beat_later();
    for (int i = 0; i < impl_->options.io_threads; ++i) impl_->io_threads.emplace_back([this] { impl_->io.run(); });
}

WebServer::~WebServer() {
    asio::post(impl_->io, [this] {
        beast::error_code ignored;
        impl_->acceptor.close(ignored);
        impl_->accept_retry.cancel();
        impl_->heartbeat_timer.cancel();
    });
    impl_->io.stop();
    for (auto& t : impl_->io_threads) t.join();
    // Requests still waiting are dropped; one already with a provider is let finish.
    impl_->handler_pool.stop();
    impl_->handler_pool.join();
}

uint16_t WebServer::port() const { return impl_->acceptor.local_endpoint().port(); }

std::size_t WebServer::open_connections() const { return impl_->shared.connections.load(); }

}  // namespace host
