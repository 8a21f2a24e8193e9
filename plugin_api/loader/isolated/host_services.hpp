// The host services a runner asks for (ISOLATION.md "Runner to host"): the secret store and the
// event counter, answered from the ep_host_api the host gave start_isolated. That table already
// namespaces keys per provider, so a runner reaches only its own provider's secrets.
#pragma once

#include <email_provider/ep_abi.h>

#include <boost/json/object.hpp>

#include <cstdint>
#include <string_view>

namespace ep::loader::isolated {

// The JSON-RPC response to the runner's request `id`: the service's result, or an error naming
// the unknown method (-32601) or the bad parameter (-32602), as https://www.jsonrpc.org/specification
// section 5.1 numbers them.
// A runner's count_event notification (ABI 1.3), passed to the host's own count_event when its
// table has one; dropped otherwise, as a plugin in that host would have reported nothing.
void count_host_event(const ep_host_api& host, std::string_view event, std::string_view outcome);

boost::json::object answer_host_request(const ep_host_api& host, uint64_t id, std::string_view method,
                                        const boost::json::object& params);

}  // namespace ep::loader::isolated
