/* Proves that the public header is plain C11: this file is compiled as C11 with -pedantic
 * -Werror, and checks at compile time that the layout third parties rely on holds. */
#include <email_provider/ep_abi.h>

#include <stddef.h>
#include <stdio.h>

_Static_assert(offsetof(ep_provider_api, struct_size) == 0, "struct_size first");
_Static_assert(offsetof(ep_host_api, struct_size) == 0, "struct_size first");
_Static_assert(offsetof(ep_negotiation, struct_size) == 0, "struct_size first");
_Static_assert(sizeof(ep_status) == 4, "ep_status is 32-bit");
_Static_assert(EP_ERR_SHUTTING_DOWN == 11, "status values never renumbered");

static ep_status EP_CALL fake_negotiate(ep_negotiation* io) {
    io->plugin_abi_major = EP_ABI_VERSION_MAJOR;
    io->plugin_abi_minor = EP_ABI_VERSION_MINOR;
    io->provider = NULL;
    return EP_ERR_INCOMPATIBLE;
}

int main(void) {
    ep_negotiate_fn fn = fake_negotiate;
    ep_negotiation io = {0};
    io.struct_size = (uint32_t)sizeof io;
    io.host_abi_major = EP_ABI_VERSION_MAJOR;
    ep_str s = {"account", 7};
    ep_owned_str owned = {NULL, 0};
    (void)owned;
    if (fn(&io) != EP_ERR_INCOMPATIBLE || s.len != 7 || io.plugin_abi_major != 1) {
        puts("unexpected");
        return 1;
    }
    puts("ep_abi.h compiles and links as C11");
    return 0;
}
