// The documents an isolated provider makes itself when its runner cannot answer: a crash, a
// deadline, a restart or a quarantine, told in words a user understands (SCHEMAS.md shapes).
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace ep::loader::isolated {

// "10 s", "15 min", "250 ms".
std::string duration_text(std::chrono::milliseconds d);

// "Personal Outlook stopped unexpectedly (killed by signal 11, SIGSEGV) while connecting"
std::string stopped_while(std::string_view provider, std::string_view how, std::string_view activity);
// The same, then "; try again in a moment."
std::string crashed_message(std::string_view provider, std::string_view how, std::string_view activity);

// An ep.send_result/1 with outcome, code and message (and the message's client_request_id).
std::string send_result_document(std::string_view outcome, std::string_view code, std::string_view message,
                                 std::string_view client_request_id);
// The outcome of a send whose runner ended before it reported: `indeterminate` when its
// send_started was read (the message may have gone), else `transient` (certainly not sent).
std::string unfinished_send_document(bool started, std::string_view code, std::string_view message,
                                     std::string_view client_request_id);
// An ep.status/1 with check_failed {code, message} and no state (SCHEMAS.md: a check that
// could not ask the service).
std::string check_failed_document(std::string_view code, std::string_view message);

}  // namespace ep::loader::isolated
