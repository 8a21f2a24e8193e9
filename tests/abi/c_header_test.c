/* Proves that the public header is plain C11: this file is compiled as C11 with -pedantic
 * -Werror, and checks at compile time, as a C compiler sees it, the layout of every field
 * (ep_abi_layout.h, generated from the header). */
#include "ep_abi_layout.h"

#include <stdio.h>

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
