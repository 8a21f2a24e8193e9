# Building provider plugins the way the ABI expects (plugin_api/CONTRACT.md EP_PLUGIN_1).
# Installed with the EmailProvider package (find_package(EmailProvider) includes it) and used
# by this repository's own plugins.
#
#   email_provider_plugin(<target> [ALLOW_UNDEFINED])
#     <target> is a SHARED library. Hidden visibility, a version script that exports only
#     ep_negotiate, and no undefined symbols at link time (-z defs; ALLOW_UNDEFINED lifts it,
#     for sanitizer builds whose runtime only the executable links).
#
#   email_provider_install_manifest(<target> ID <id> DISPLAY_NAME <name> [CAPABILITIES <cap>...]
#                                   [COMPONENT <component>])
#     Installs <target> into <libdir>/email-provider/providers and a manifest naming it into
#     <datadir>/email-provider/providers.d, where hosts look for providers (MANIFEST.md), with
#     the library path relative to the manifest. With Debian's prefix /usr:
#     /usr/lib/<triplet>/email-provider/providers and /usr/share/email-provider/providers.d.
#     COMPONENT puts both files in that install component (one package per provider).

set(_email_provider_exports_map "${CMAKE_CURRENT_LIST_DIR}/plugin_exports.map")

function(email_provider_plugin target)
  cmake_parse_arguments(P "ALLOW_UNDEFINED" "" "" ${ARGN})
  set_target_properties(${target} PROPERTIES PREFIX "lib" C_VISIBILITY_PRESET hidden CXX_VISIBILITY_PRESET hidden
                                             VISIBILITY_INLINES_HIDDEN ON)
  target_link_options(${target} PRIVATE "LINKER:--version-script=${_email_provider_exports_map}")
  if(NOT P_ALLOW_UNDEFINED)
    target_link_options(${target} PRIVATE "LINKER:--no-undefined" "LINKER:-z,defs")
  endif()
  set_property(TARGET ${target} APPEND PROPERTY LINK_DEPENDS "${_email_provider_exports_map}")
endfunction()

function(email_provider_install_manifest target)
  cmake_parse_arguments(M "" "ID;DISPLAY_NAME;COMPONENT" "CAPABILITIES" ${ARGN})
  if(NOT M_ID OR NOT M_DISPLAY_NAME)
    message(FATAL_ERROR "email_provider_install_manifest(${target}): ID and DISPLAY_NAME are required")
  endif()
  include(GNUInstallDirs)
  # Plugins are no libraries for the linker to find: a subdirectory of the library directory
  # keeps them (FHS 3.0 4.6, https://refspecs.linuxfoundation.org/FHS_3.0/fhs/ch04s06.html).
  set(libdir "${CMAKE_INSTALL_LIBDIR}/email-provider/providers")
  set(manifestdir "${CMAKE_INSTALL_DATADIR}/email-provider/providers.d")
  # The library path is relative to the manifest, so the installed tree can move.
  cmake_path(RELATIVE_PATH CMAKE_INSTALL_FULL_LIBDIR BASE_DIRECTORY "${CMAKE_INSTALL_FULL_DATADIR}/email-provider/providers.d"
             OUTPUT_VARIABLE relative_libdir)
  set(component "")
  if(M_COMPONENT)
    set(component COMPONENT "${M_COMPONENT}")
  endif()
  set(caps "")
  foreach(c ${M_CAPABILITIES})
    string(APPEND caps "${sep}\"${c}\"")
    set(sep ", ")
  endforeach()
  file(GENERATE OUTPUT "${CMAKE_CURRENT_BINARY_DIR}/${M_ID}.json" CONTENT "{
  \"file_format_version\": \"1.0.0\",
  \"provider\": {
    \"id\": \"${M_ID}\",
    \"display_name\": \"${M_DISPLAY_NAME}\",
    \"library_path\": \"${relative_libdir}/email-provider/providers/$<TARGET_FILE_NAME:${target}>\",
    \"abi_version\": \"${EmailProvider_ABI_VERSION}\",
    \"capabilities\": [${caps}]
  }
}
")
  install(TARGETS ${target} LIBRARY DESTINATION "${libdir}" ${component})
  install(FILES "${CMAKE_CURRENT_BINARY_DIR}/${M_ID}.json" DESTINATION "${manifestdir}" ${component})
endfunction()
