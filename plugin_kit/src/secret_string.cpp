#include "ep_kit/secret_string.hpp"

#include <boost/json/value.hpp>

namespace ep::kit {

void wipe_strings(boost::json::value& v) noexcept {
    if (v.is_string()) {
        OPENSSL_cleanse(v.as_string().data(), v.as_string().size());
    } else if (v.is_array()) {
        for (auto& e : v.as_array()) wipe_strings(e);
    } else if (v.is_object()) {
        for (auto& kv : v.as_object()) wipe_strings(kv.value());
    }
}

}  // namespace ep::kit
