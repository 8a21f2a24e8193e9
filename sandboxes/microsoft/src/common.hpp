// The provider-neutral plumbing of sandboxes/common (transport, request/response types, form
// decoding, OpenSSL helpers), named in this stand-in's namespace, plus this stand-in's token key.
#pragma once

#include <sandbox/crypto.hpp>
#include <sandbox/http_server.hpp>
#include <sandbox/http_types.hpp>

#include <boost/json/object.hpp>

namespace ms_sandbox::detail {

using sandbox::base64_decode;
using sandbox::base64_encode;
using sandbox::base64url_decode;
using sandbox::base64url_encode;
using sandbox::Certificate;
using sandbox::decode_path_segment;
using sandbox::guid_from_name;
using sandbox::Headers;
using sandbox::hex16_from_name;
using sandbox::html_escape;
using sandbox::HttpRequest;
using sandbox::HttpResponse;
using sandbox::HttpServer;
using sandbox::MalformedRequest;
using sandbox::param;
using sandbox::Params;
using sandbox::parse_form;
using sandbox::random_guid;
using sandbox::random_urlsafe;
using sandbox::RequestHandler;
using sandbox::ServerConfig;
using sandbox::sha1;
using sandbox::sha256;
using sandbox::split_path;
using sandbox::Transport;
using sandbox::url_encode;

// The token-signing key, generated once per process (RSA key generation is slow under
// sanitizers). Entra names a key by its certificate's x5t.
const sandbox::SigningKey& signing_key();
std::string signing_kid();
// The key as the JWKS lists it: {"kty","use","kid","x5t","n","e","x5c"}.
boost::json::object signing_jwk();

}  // namespace ms_sandbox::detail
