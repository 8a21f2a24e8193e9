// The plugin's only export: ep_negotiate, for the Personal Gmail provider.
#include "gmail_provider.hpp"

EP_DECLARE_PROVIDER(gmail::GmailProvider, "Personal Gmail", "1.0.0",
                    EP_CAP_INTERACTIVE_CONNECT | EP_CAP_HTML_BODY | EP_CAP_ATTACHMENTS | EP_CAP_CUSTOM_HEADERS |
                        EP_CAP_THREADING)
