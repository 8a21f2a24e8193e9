#include "web_server.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

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

class Session : public std::enable_shared_from_this<Session> {
public:
    Session(tcp::socket socket, const WebServer::Handler& handler) : stream_(std::move(socket)), handler_(handler) {}

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
            if (ec == http::error::body_limit) return reply_error(http::status::payload_too_large, "request body too large");
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
        WebResponse out;
        try {
            out = handler_(r);
        } catch (const std::exception& e) {
            out = WebResponse{500, {{"Content-Type", "text/plain; charset=utf-8"}}, std::string("internal error: ") + e.what()};
        }
        send(std::move(out), req.keep_alive());
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
        http::async_write(stream_, *res, [self = shared_from_this(), res, keep_alive](beast::error_code ec, std::size_t) {
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
    const WebServer::Handler& handler_;
};

}  // namespace

struct WebServer::Impl {
    asio::io_context io;
    tcp::acceptor acceptor{io};
    Handler handler;
    std::vector<std::thread> threads;

    void accept() {
        acceptor.async_accept(asio::make_strand(io), [this](beast::error_code ec, tcp::socket socket) {
            if (ec) return;  // closed: shutting down
            std::make_shared<Session>(std::move(socket), handler)->start();
            accept();
        });
    }
};

WebServer::WebServer(const std::string& address, uint16_t port, Handler handler, int threads)
    : impl_(std::make_unique<Impl>()) {
    impl_->handler = std::move(handler);
    beast::error_code ec;
    auto addr = asio::ip::make_address(address, ec);
    if (ec) throw std::runtime_error("web.listen_address \"" + address + "\" is not an IP address");
    tcp::endpoint endpoint(addr, port);
    impl_->acceptor.open(endpoint.protocol(), ec);
    if (!ec) impl_->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) impl_->acceptor.bind(endpoint, ec);
    if (!ec) impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw std::runtime_error("cannot listen on " + address + ":" + std::to_string(port) + ": " + ec.message());
    impl_->accept();
    for (int i = 0; i < threads; ++i) impl_->threads.emplace_back([this] { impl_->io.run(); });
}

WebServer::~WebServer() {
    asio::post(impl_->io, [this] {
        beast::error_code ignored;
        impl_->acceptor.close(ignored);
    });
    impl_->io.stop();
    for (auto& t : impl_->threads) t.join();
}

uint16_t WebServer::port() const { return impl_->acceptor.local_endpoint().port(); }

}  // namespace host
