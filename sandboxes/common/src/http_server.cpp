// The transport: accepts connections, speaks HTTP/1.1 (optionally inside TLS), hands parsed
// requests to the RequestHandler and carries out the transport-level faults it asks for
// (delays, dropped connections, truncated bodies, resets before the body is read).
#include "sandbox/http_server.hpp"

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <optional>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <vector>

namespace sandbox {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

namespace {

constexpr auto kHandshakeTimeout = std::chrono::seconds(10);
constexpr auto kIdleTimeout = std::chrono::seconds(60);

using TlsStream = ssl::stream<beast::tcp_stream>;
using PlainStream = beast::tcp_stream;

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

// Errors that mean "the peer went away", as opposed to "the peer sent garbage".
bool is_disconnect(const beast::error_code& ec) {
    return ec == http::error::end_of_stream || ec == http::error::partial_message || ec == net::error::eof ||
           ec == net::error::connection_reset || ec == net::error::operation_aborted || ec == beast::error::timeout ||
           ec == ssl::error::stream_truncated || ec.category() == net::error::get_ssl_category();
}

template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
public:
    template <class... Args>
    Session(RequestHandler& handler, const ServerConfig& config, Args&&... stream_args)
        : stream_(std::forward<Args>(stream_args)...),
          timer_(stream_.get_executor()),
          handler_(handler),
          config_(config) {}

    void start() {
        if constexpr (std::is_same_v<Stream, TlsStream>) {
            beast::get_lowest_layer(stream_).expires_after(kHandshakeTimeout);
            stream_.async_handshake(ssl::stream_base::server, [self = this->shared_from_this()](beast::error_code ec) {
                if (ec) return;  // bad certificate on the client side etc.
                self->read_header();
            });
        } else {
            net::dispatch(stream_.get_executor(), [self = this->shared_from_this()] { self->read_header(); });
        }
    }

private:
    void read_header() {
        parser_.emplace();
        parser_->header_limit(config_.header_limit);
        parser_->body_limit(config_.body_limit);
        request_ = HttpRequest{};
        beast::get_lowest_layer(stream_).expires_after(kIdleTimeout);
        http::async_read_header(
            stream_, buffer_, *parser_,
            [self = this->shared_from_this()](beast::error_code ec, std::size_t) { self->on_header(ec); });
    }

    void fill_head() {
        const auto& msg = parser_->get();
        request_.method = std::string(msg.method_string());
        request_.target = std::string(msg.target());
        auto q = request_.target.find('?');
        request_.path = request_.target.substr(0, q);
        request_.query = q == std::string::npos ? "" : request_.target.substr(q + 1);
        for (const auto& field : msg)
            request_.headers.emplace_back(lower(field.name_string()), std::string(field.value()));
    }

    void on_header(beast::error_code ec) {
        if (ec == http::error::header_limit) return reply_malformed(MalformedRequest::header_too_large);
        if (ec) {
            if (is_disconnect(ec)) return close();
            return reply_malformed(MalformedRequest::bad_syntax);
        }
        fill_head();
        if (handler_.reset_before_body(request_)) return reset();
        if (parser_->is_done()) return on_body({});
        if (lower(request_.header("expect")) == "100-continue") {
            // curl waits up to a second for this before sending large bodies.
            auto cont = std::make_shared<http::response<http::empty_body>>(http::status::continue_, 11);
            http::async_write(stream_, *cont,
                              [self = this->shared_from_this(), cont](beast::error_code wec, std::size_t) {
                                  if (wec) return self->close();
                                  self->read_body();
                              });
            return;
        }
        read_body();
    }

    void read_body() {
        http::async_read(stream_, buffer_, *parser_,
                         [self = this->shared_from_this()](beast::error_code ec, std::size_t) { self->on_body(ec); });
    }

    void on_body(beast::error_code ec) {
        if (ec == http::error::body_limit) return reply_malformed(MalformedRequest::body_too_large);
        if (ec) {
            if (is_disconnect(ec)) return close();
            return reply_malformed(MalformedRequest::bad_syntax);
        }
        request_.body = std::move(parser_->get().body());
        keep_alive_ = parser_->get().keep_alive();
        try {
            response_ = handler_.handle(request_);
        } catch (...) {
            response_ = handler_.malformed(MalformedRequest::bad_syntax, &request_);
        }
        schedule_send();
    }

    void reply_malformed(MalformedRequest kind) {
        if (parser_ && parser_->is_header_done()) fill_head();
        response_ = handler_.malformed(kind, parser_ && parser_->is_header_done() ? &request_ : nullptr);
        response_.transport = Transport::close_after;
        keep_alive_ = false;
        schedule_send();
    }

    void schedule_send() {
        if (response_.delay.count() > 0) {
            timer_.expires_after(response_.delay);
            timer_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
                if (ec) return self->close();
                self->send();
            });
            return;
        }
        send();
    }

    void send() {
        if (response_.transport == Transport::drop_before_response) return reset();
        wire_ = std::make_unique<http::response<http::string_body>>();
        auto& wire = *wire_;
        wire.version(11);
        wire.result(static_cast<unsigned>(response_.status));
        for (auto& [name, value] : response_.headers) wire.insert(name, value);
        const bool close_after = !keep_alive_ || response_.transport != Transport::normal;
        if (response_.transport == Transport::truncated_body) {
            // Promise the whole body, deliver half of it, then hang up.
            const auto full = response_.body.size();
            wire.body() = response_.body.substr(0, full / 2);
            wire.set(http::field::content_length, std::to_string(std::max<std::size_t>(full, 2)));
        } else {
            wire.body() = std::move(response_.body);
            wire.prepare_payload();
        }
        wire.keep_alive(!close_after);
        http::async_write(stream_, wire,
                          [self = this->shared_from_this(), close_after](beast::error_code ec, std::size_t) {
                              self->response_.in_flight.reset();
                              if (ec || close_after) return self->close();
                              self->read_header();
                          });
    }

    // Abortive close: RST instead of FIN, no TLS close_notify.
    void reset() {
        response_.in_flight.reset();
        beast::error_code ignored;
        auto& socket = beast::get_lowest_layer(stream_).socket();
        socket.set_option(tcp::socket::linger(true, 0), ignored);
        socket.close(ignored);
    }

    void close() {
        response_.in_flight.reset();
        if constexpr (std::is_same_v<Stream, TlsStream>) {
            beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(2));
            stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) {
                beast::error_code ignored;
                beast::get_lowest_layer(self->stream_).socket().close(ignored);
            });
        } else {
            beast::error_code ignored;
            stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
            stream_.socket().close(ignored);
        }
    }

    Stream stream_;
    net::steady_timer timer_;
    RequestHandler& handler_;
    const ServerConfig& config_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    HttpRequest request_;
    HttpResponse response_;
    std::unique_ptr<http::response<http::string_body>> wire_;
    bool keep_alive_ = true;
};

}  // namespace

struct HttpServer::Impl {
    Impl(const ServerConfig& cfg, RequestHandler& h)
        : config(cfg), handler(h), ssl_ctx(ssl::context::tls_server), acceptor(ioc) {}

    void accept() {
        acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
            if (ec) {
                if (ec == net::error::operation_aborted || !acceptor.is_open()) return;
                // EMFILE and the like: the connection stays in the backlog, so retrying at once would
                // spin a thread at 100%. Wait a little (doubling up to a second), then try again.
                accept_retry.expires_after(accept_retry_delay);
                accept_retry_delay = std::min(accept_retry_delay * 2, std::chrono::milliseconds(1000));
                accept_retry.async_wait([this](beast::error_code wait_ec) {
                    if (!wait_ec && acceptor.is_open()) accept();
                });
                return;
            }
            accept_retry_delay = std::chrono::milliseconds(10);
            beast::error_code ignored;
            socket.set_option(tcp::no_delay(true), ignored);
            if (config.tls) {
                std::make_shared<Session<TlsStream>>(handler, config, std::move(socket), ssl_ctx)->start();
            } else {
                std::make_shared<Session<PlainStream>>(handler, config, std::move(socket))->start();
            }
            accept();
        });
    }

    ServerConfig config;
    RequestHandler& handler;
    net::io_context ioc;
    ssl::context ssl_ctx;
    tcp::acceptor acceptor;
    net::steady_timer accept_retry{ioc};
    std::chrono::milliseconds accept_retry_delay{10};
    std::vector<std::thread> threads;
    std::uint16_t bound_port = 0;
    std::atomic<bool> stopped{false};
};

HttpServer::HttpServer(const ServerConfig& config, RequestHandler& handler)
    : impl_(std::make_unique<Impl>(config, handler)) {
    auto& im = *impl_;
    if (config.tls) {
        try {
            im.ssl_ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                                   ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
            im.ssl_ctx.use_certificate_chain_file(config.cert_file);
            im.ssl_ctx.use_private_key_file(config.key_file, ssl::context::pem);
        } catch (const std::exception& e) {
            throw std::runtime_error("cannot load TLS material '" + config.cert_file + "' / '" + config.key_file +
                                     "': " + e.what());
        }
    }
    beast::error_code ec;
    const tcp::endpoint endpoint(net::ip::make_address_v4("127.0.0.1"), config.port);
    im.acceptor.open(endpoint.protocol(), ec);
    if (!ec) im.acceptor.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) im.acceptor.bind(endpoint, ec);
    if (!ec) im.acceptor.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
        throw std::runtime_error("cannot listen on 127.0.0.1:" + std::to_string(config.port) + ": " + ec.message());
    }
    im.bound_port = im.acceptor.local_endpoint().port();
}

void HttpServer::start() {
    auto& im = *impl_;
    if (!im.threads.empty()) return;
    im.accept();
    const int n = std::max(1, im.config.threads);
    for (int i = 0; i < n; ++i) im.threads.emplace_back([&im] { im.ioc.run(); });
}

HttpServer::~HttpServer() { stop(); }

std::uint16_t HttpServer::port() const { return impl_->bound_port; }

void HttpServer::stop() {
    auto& im = *impl_;
    if (im.stopped.exchange(true)) return;
    net::post(im.ioc, [&im] {
        beast::error_code ignored;
        im.acceptor.close(ignored);
        im.accept_retry.cancel();
    });
    im.ioc.stop();
    for (auto& t : im.threads)
        if (t.joinable()) t.join();
}

}  // namespace sandbox
