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
endfunction()

# ep_plugin(<target>): a provider plugin. Exactly one dynamic symbol, ep_negotiate,
# enforced at link time by a version script (and checked by tests with nm -D).
function(ep_plugin target)
  set_target_properties(${target} PROPERTIES PREFIX "lib")
  target_link_options(${target} PRIVATE "LINKER:--version-script=${PROJECT_SOURCE_DIR}/plugin_api/plugin_exports.map")
  # Refuse undefined symbols at link time, except under clang's sanitizers: clang links their
  # runtimes into executables only, so a sanitized plugin resolves them when loaded.
  if(NOT (CMAKE_CXX_COMPILER_ID STREQUAL "Clang" AND (EP_SANITIZE OR EP_FUZZ)))
    target_link_options(${target} PRIVATE "LINKER:--no-undefined" "LINKER:-z,defs")
  endif()
  set_property(TARGET ${target} APPEND PROPERTY LINK_DEPENDS
               ${PROJECT_SOURCE_DIR}/plugin_api/plugin_exports.map)
endfunction()
