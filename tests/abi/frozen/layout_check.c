/* Compiled once per released ABI version (tests/CMakeLists.txt) against TODAY's ep_abi.h, with
 * that release's layout guard (frozen/<version>/ep_abi_layout.h) on the quote include path:
 * every field a released plugin or host relies on is still where it was, with its type. */
#include "ep_abi_layout.h"

#include <stdio.h>

int main(void) {
    printf("the released layout holds in ep_abi.h %d.%d\n", EP_ABI_VERSION_MAJOR, EP_ABI_VERSION_MINOR);
    return 0;
}
