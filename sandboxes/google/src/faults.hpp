// Scripted faults per endpoint (POST /_sandbox/faults): the next matching requests fail with a
// status in the endpoint's own error shape, a delay, a dropped or reset connection, or a
// malformed JSON body. The transport (sandbox_common) carries out delays, drops and resets.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <optional>
#include <string>
#include <vector>

namespace google_sandbox::detail {

enum class FaultAction { status, delay, drop_before_response, reset_before_body, malformed_json };

struct Fault {
    int id = 0;
    std::string endpoint = "any";     // authorize | token | revoke | userinfo | certs | send | any
    std::optional<std::string> user;  // the account concerned, when the request names one
    int after = 0;                    // let the first `after` matching requests through
    int times = 1;                    // -1 = forever
    FaultAction action = FaultAction::status;
    int status = 0;
    int delay_ms = 0;
    // Run the real handler first (the request takes effect, e.g. a message is sent), then fail.
    // Default: true for drop_before_response, delay and malformed_json, false otherwise.
    bool process_first = false;
    int matched = 0, fired = 0;

    boost::json::object to_json() const;
};

// Throws ep::json_reader::FieldError naming the field.
Fault parse_fault(const boost::json::value& json);

class Faults {
public:
    int add(Fault fault);
    void clear() { faults_.clear(); }
    boost::json::array to_json() const;
    // The first rule that fires for this request. header_phase: reset_before_body rules only.
    std::optional<Fault> match(const std::string& endpoint, const std::string& user, bool header_phase);

private:
    std::vector<Fault> faults_;
    int next_id_ = 1;
};

}  // namespace google_sandbox::detail
