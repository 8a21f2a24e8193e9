// Plain HTML for the sign-in, consent, approval and error pages. Element ids are stable and
// documented in README.md (several reuse the ids of Microsoft's real pages).
#pragma once

#include "identity.hpp"

namespace ms_sandbox::detail {

// Renders any non-redirect outcome (sign-in, consent, approval, error pages) and redirects
// (302 for query/fragment, auto-submitting form for form_post).
HttpResponse render_outcome(Service& svc, const std::string& tenant_path, const FlowOutcome& outcome,
                            const RequestContext& ctx);
HttpResponse render_error_page(int code, const std::string& message, const RequestContext& ctx);

}  // namespace ms_sandbox::detail
