/* ep_abi.h as a library, for abidw (tests/abi/abi_check.py): ep_negotiate reaches every type of
 * the ABI (the negotiation block, the provider table and, through its functions, the host table
 * and the string types), so the library's debug info describes the whole ABI. Built with full
 * DWARF; never loaded. */
#include <email_provider/ep_abi.h>

EP_EXPORT ep_status EP_CALL ep_negotiate(ep_negotiation* io) {
    (void)io;
    return EP_ERR_INCOMPATIBLE;
}
