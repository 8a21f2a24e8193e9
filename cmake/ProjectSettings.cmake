# Compiler settings shared by every target of this project.

# Sanitizers apply to everything (plugins, host and tests), because a plugin
# built without ASan loaded into an ASan host hides exactly the bugs we look for.
if(EP_SANITIZE)
  add_compile_options(-fsanitize=${EP_SANITIZE} -fno-omit-frame-pointer)
  add_link_options(-fsanitize=${EP_SANITIZE})
  if(EP_SANITIZE MATCHES "undefined")
    # Plugins are loaded with RTLD_LOCAL: vptr checks see distinct typeinfo per DSO.
    add_compile_options(-fno-sanitize=vptr -fno-sanitize-recover=undefined)
  endif()
endif()

# Hidden by default: a plugin exports its entry point and nothing else.
set(CMAKE_C_VISIBILITY_PRESET hidden)
set(CMAKE_CXX_VISIBILITY_PRESET hidden)
set(CMAKE_VISIBILITY_INLINES_HIDDEN ON)

# ep_warnings(<target>): -Wall -Wextra (and -Werror) on project code only.
function(ep_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wshadow -Wnon-virtual-dtor
                         $<$<COMPILE_LANGUAGE:CXX>:-Wold-style-cast>)
  if(EP_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  # In a unity build a .cpp file's anonymous namespace is no longer the main file's, so GCC warns
  # of every class holding a member of a type from it: true of the batch, not of the code.
  if(CMAKE_UNITY_BUILD AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-Wno-subobject-linkage>)
  endif()
endfunction()

# ep_plugin(<target>): a provider plugin, built with the helper the SDK installs for third
# parties (plugin_api/cmake/EmailProviderPlugin.cmake): exactly one dynamic symbol,
# ep_negotiate (checked by tests with nm -D), no undefined symbols at link time.
include(${PROJECT_SOURCE_DIR}/plugin_api/cmake/EmailProviderPlugin.cmake)
function(ep_plugin target)
  # Except under clang's sanitizers: clang links their runtimes into executables only, so a
  # sanitized plugin resolves them when loaded.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang" AND (EP_SANITIZE OR EP_FUZZ))
    email_provider_plugin(${target} ALLOW_UNDEFINED)
  else()
    email_provider_plugin(${target})
  endif()
endfunction()
