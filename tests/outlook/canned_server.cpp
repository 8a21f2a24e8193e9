#include "canned_server.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <mutex>
#include <thread>

namespace outlook_test {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

// One thread accepts and answers connections one after another: the plugin's requests are
// small and the answers canned, so nobody waits long in the backlog.
struct CannedServer::Impl {
    asio::io_context io;
    tcp::acceptor acceptor{io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
    unsigned short port = acceptor.local_endpoint().port();
    std::atomic<bool> stopping{false};
    mutable std::mutex mutex;
    std::map<std::string, std::vector<CannedResponse>> scripts;
    std::map<std::string, std::vector<CannedRequest>> seen;
    std::thread thread{[this] { run(); }};

    void run() {
        while (!stopping) {
            tcp::socket socket(io);
            boost::system::error_code ec;
            acceptor.accept(socket, ec);
            if (ec || stopping) continue;
            serve(socket);
        }
    }

    void serve(tcp::socket& socket) {
        boost::beast::flat_buffer buffer;
        http::request<http::string_body> req;
        boost::system::error_code ec;
        http::read(socket, buffer, req, ec);
        if (ec) return;
        CannedRequest r{std::string(req.method_string()), std::string(req.target()), req.body(), {}};
        for (const auto& field : req) {
            std::string name(field.name_string());
            for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            r.headers[name] = std::string(field.value());
        }
        std::string path = r.target.substr(0, r.target.find('?'));
        CannedResponse answer{404, {{"Content-Type", "application/json"}}, R"({"error":"not scripted"})"};
        {
            std::lock_guard lock(mutex);
            auto& list = seen[path];
            list.push_back(std::move(r));
            if (auto it = scripts.find(path); it != scripts.end() && !it->second.empty())
                answer = it->second[std::min(list.size(), it->second.size()) - 1];
        }
        http::response<http::string_body> res{static_cast<http::status>(answer.status), 11};
        for (const auto& [name, value] : answer.headers) res.set(name, value);
        res.set(http::field::connection, "close");
        res.body() = answer.body;
        res.prepare_payload();
        http::write(socket, res, ec);
        socket.shutdown(tcp::socket::shutdown_both, ec);
    }

    ~Impl() {
        stopping = true;
        // Wake the blocking accept with a connection of our own (on its own io_context: the
        // server thread owns `io`).
        boost::system::error_code ec;
        asio::io_context waker_io;
        tcp::socket waker(waker_io);
        waker.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
        thread.join();
    }
};

CannedServer::CannedServer() : impl_(std::make_unique<Impl>()) {}
CannedServer::~CannedServer() = default;

std::string CannedServer::base_url() const { return "http://127.0.0.1:" + std::to_string(impl_->port); }

void CannedServer::script(const std::string& path, std::vector<CannedResponse> answers) {
    std::lock_guard lock(impl_->mutex);
    impl_->scripts[path] = std::move(answers);
    impl_->seen.erase(path);
}

std::vector<CannedRequest> CannedServer::requests(const std::string& path) const {
    std::lock_guard lock(impl_->mutex);
    auto it = impl_->seen.find(path);
    return it == impl_->seen.end() ? std::vector<CannedRequest>{} : it->second;
}

int CannedServer::count(const std::string& path) const { return static_cast<int>(requests(path).size()); }

}  // namespace outlook_test
