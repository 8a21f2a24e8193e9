# Debian packages with CPack (README.md, "Operators"): one package per install component.
#
#   libemail-provider-dev   (dev)              headers, static libraries, CMake package, .pc
#   email-provider-host     (host)             host_stub, ep-provider-runner, systemd unit, example config
#   email-provider-outlook  (provider-outlook) the Personal Outlook plugin and its manifest
#   email-provider-gmail    (provider-gmail)   the Personal Gmail plugin and its manifest
#
# Every install() rule names one of these components; nothing else is packaged (the mock
# provider, tests, benchmarks and stand-ins have no install rule). Build with
# scripts/package.sh, which also runs lintian. Configure with CMAKE_INSTALL_PREFIX=/usr (the
# presets do), so that GNUInstallDirs picks Debian's multiarch libdir (lib/<triplet>).
include(GNUInstallDirs)

# Debian's permissions for the directories install() creates, whatever the builder's umask.
set(CMAKE_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
                                                WORLD_READ WORLD_EXECUTE)

set(ep_deb_components dev host provider-outlook provider-gmail)
set(ep_deb_release 1)
set(ep_deb_maintainer "Seed 048f8471 maintainers <maintainers@users.noreply.r-seed-048f8471.example>")

# The changelog is written by hand; its latest entry must be the version being packaged.
file(STRINGS "${CMAKE_CURRENT_LIST_DIR}/changelog" ep_changelog_top LIMIT_COUNT 1)
if(NOT ep_changelog_top MATCHES "^email-provider \\(${PROJECT_VERSION}-${ep_deb_release}\\) ")
  message(FATAL_ERROR "packaging/changelog: the latest entry is '${ep_changelog_top}', "
                      "not version ${PROJECT_VERSION}-${ep_deb_release}: add an entry for this version")
endif()
# gzip -9n: no name or timestamp in the header, so the file is the same on every build (Debian
# policy 12.7; lintian's package-contains-timestamped-gzip).
set(ep_changelog_gz "${CMAKE_BINARY_DIR}/packaging/changelog.Debian.gz")
file(MAKE_DIRECTORY "${CMAKE_BINARY_DIR}/packaging")
execute_process(COMMAND gzip -9n -c "${CMAKE_CURRENT_LIST_DIR}/changelog" OUTPUT_FILE "${ep_changelog_gz}"
                COMMAND_ERROR_IS_FATAL ANY)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${CMAKE_CURRENT_LIST_DIR}/changelog")

# /usr/share/doc/<package>/{copyright,changelog.Debian.gz}, which every package must carry.
function(ep_deb_docs component package)
  install(FILES "${CMAKE_CURRENT_FUNCTION_LIST_DIR}/copyright" "${ep_changelog_gz}"
          DESTINATION "${CMAKE_INSTALL_DATADIR}/doc/${package}" COMPONENT ${component})
endfunction()

# ep_deb_package(<component> <package> <section> <synopsis> <extended description>)
macro(ep_deb_package component package section synopsis description)
  string(TOUPPER "${component}" ep_c)
  set(CPACK_DEBIAN_${ep_c}_PACKAGE_NAME "${package}")
  set(CPACK_DEBIAN_${ep_c}_PACKAGE_SECTION "${section}")
  set(CPACK_DEBIAN_${ep_c}_DESCRIPTION "${synopsis}\n${description}")
  ep_deb_docs(${component} ${package})
endmacro()

# Descriptions: one line each of at most 80 columns (Debian policy 3.4.1 and lintian).
ep_deb_package(dev libemail-provider-dev libdevel "email-provider plugin SDK: C ABI, C++ SDK, host loader"
  "Headers, static libraries, the CMake package (find_package(EmailProvider)) and
email-provider.pc, for building email-provider plugins (ep_abi.h, C11;
ep_sdk.hpp, C++20) and hosts that load them.")
# The static message model and loader need Boost.JSON, Boost.URL and libcrypto at link time;
# EmailProviderConfig.cmake asks for them with find_dependency.
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "libboost1.81-dev, libboost-json1.81-dev, libboost-url1.81-dev, libssl-dev")

ep_deb_package(host email-provider-host mail "reference host for email-provider plugins"
  "Sends recruiters' nudges through the email provider each user connects: a
settings page and a durable outbox. Each provider plugin runs in a process of
its own (ep-provider-runner). Providers come in packages of their own, found
in /usr/share/email-provider/providers.d.")
set(CPACK_DEBIAN_HOST_PACKAGE_RECOMMENDS "email-provider-outlook | email-provider-gmail")
# The unit's maintainer scripts (daemon-reload; stop on removal), as dh_installsystemd would write
# them, but enabling nothing: the service needs a config the administrator writes first.
set(CPACK_DEBIAN_HOST_PACKAGE_CONTROL_EXTRA "${CMAKE_CURRENT_LIST_DIR}/host/postinst;${CMAKE_CURRENT_LIST_DIR}/host/prerm;${CMAKE_CURRENT_LIST_DIR}/host/postrm")
set(CPACK_DEBIAN_HOST_PACKAGE_CONTROL_STRICT_PERMISSION ON)
install(FILES "${PROJECT_SOURCE_DIR}/manifests/host.packaged.json"
        DESTINATION "${CMAKE_INSTALL_DATADIR}/doc/email-provider-host/examples" RENAME host.json COMPONENT host)

# Providers depend on no version of the host: the ABI is their contract with any host (negotiated
# at load, plugin_api/CONTRACT.md), so a provider and the host upgrade independently. They enhance
# the host, which is how Debian marks a plugin.
ep_deb_package(provider-outlook email-provider-outlook mail "Personal Outlook provider for email-provider hosts"
  "Sends mail as the user through Microsoft Graph, from a Microsoft account or a
work or school account connected with OAuth 2.0. Email-provider hosts find it
through its manifest.")
set(CPACK_DEBIAN_PROVIDER-OUTLOOK_PACKAGE_ENHANCES "email-provider-host")
ep_deb_package(provider-gmail email-provider-gmail mail "Personal Gmail provider for email-provider hosts"
  "Sends mail as the user through the Gmail API, from a Google account connected
with OAuth 2.0. Email-provider hosts find it through its manifest.")
set(CPACK_DEBIAN_PROVIDER-GMAIL_PACKAGE_ENHANCES "email-provider-host")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME email-provider)
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_CONTACT "${ep_deb_maintainer}")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${ep_deb_maintainer}")
set(CPACK_DEBIAN_PACKAGE_RELEASE ${ep_deb_release})
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SOURCE email-provider)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # <package>_<version>-<release>_<arch>.deb
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL ${ep_deb_components})
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)  # dpkg-shlibdeps: Depends on the shared libraries linked
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGING_INSTALL_PREFIX "${CMAKE_INSTALL_PREFIX}")
set(CPACK_PACKAGE_DIRECTORY "${CMAKE_BINARY_DIR}/packages")
include(CPack)
