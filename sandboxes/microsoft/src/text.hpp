// Case folding for protocol words (scopes, header values, grant types): one definition for the
// whole stand-in, in service.cpp.
#pragma once

#include <string>
#include <string_view>

namespace ms_sandbox::detail {

std::string lower(std::string_view s);
bool iequals(std::string_view a, std::string_view b);

}  // namespace ms_sandbox::detail
