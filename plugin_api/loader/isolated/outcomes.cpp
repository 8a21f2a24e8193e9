#include "outcomes.hpp"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

namespace ep::loader::isolated {

namespace json = boost::json;

std::string duration_text(std::chrono::milliseconds d) {
    const auto ms = d.count();
    if (ms >= 60'000 && ms % 60'000 == 0) return std::to_string(ms / 60'000) + " min";
    if (ms >= 1'000 && ms % 1'000 == 0) return std::to_string(ms / 1'000) + " s";
    return std::to_string(ms) + " ms";
}

std::string stopped_while(std::string_view provider, std::string_view how, std::string_view activity) {
    return std::string(provider) + " stopped unexpectedly (" + std::string(how) + ") while " + std::string(activity);
}

std::string crashed_message(std::string_view provider, std::string_view how, std::string_view activity) {
    return stopped_while(provider, how, activity) + "; try again in a moment.";
}

std::string send_result_document(std::string_view outcome, std::string_view code, std::string_view message,
                                 std::string_view client_request_id) {
    json::object o{{"schema", "ep.send_result/1"}, {"outcome", outcome}, {"code", code}, {"message", message}};
    if (!client_request_id.empty()) o["client_request_id"] = client_request_id;
    return json::serialize(o);
}

std::string unfinished_send_document(bool started, std::string_view code, std::string_view message,
                                     std::string_view client_request_id) {
    const std::string said =
        started ? std::string(message) + " The message may have been sent: check before sending it again."
                : std::string(message) + " The message was not sent.";
    return send_result_document(started ? "indeterminate" : "transient", code, said, client_request_id);
}

std::string check_failed_document(std::string_view code, std::string_view message) {
    return json::serialize(
        json::object{{"schema", "ep.status/1"}, {"check_failed", json::object{{"code", code}, {"message", message}}}});
}

}  // namespace ep::loader::isolated
