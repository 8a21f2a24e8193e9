# Every dependency comes from Debian 12 packages (see scripts/install-deps.sh).

find_package(Boost 1.81.0 REQUIRED CONFIG COMPONENTS json url program_options)
find_package(CURL REQUIRED)
find_package(OpenSSL 3 REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(PostgreSQL REQUIRED)  # libpq (libpq-dev): PostgreSQL::PostgreSQL
find_package(Threads REQUIRED)
if(EP_BUILD_TESTS)
  find_package(GTest CONFIG REQUIRED)
  find_package(Python3 REQUIRED COMPONENTS Interpreter)  # the ABI guards' tools
endif()
if(EP_BUILD_BENCH)
  find_package(benchmark REQUIRED)
endif()

# Boost.DLL switches its path/error types on this macro; it must be identical in every
# translation unit, so it rides on one interface target that everything links.
add_library(ep_boost INTERFACE)
target_link_libraries(ep_boost INTERFACE Boost::headers Boost::json Boost::url)
target_compile_definitions(ep_boost INTERFACE BOOST_DLL_USE_STD_FS BOOST_ASIO_NO_DEPRECATED)
