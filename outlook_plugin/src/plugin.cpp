// The plugin's only export: ep_negotiate, for the Personal Outlook provider.
#include "outlook_provider.hpp"

EP_DECLARE_PROVIDER(outlook::OutlookProvider, "Personal Outlook", "1.0.0",
                    EP_CAP_INTERACTIVE_CONNECT | EP_CAP_HTML_BODY | EP_CAP_ATTACHMENTS | EP_CAP_CUSTOM_HEADERS |
                        EP_CAP_THREADING)
