# The batteries: TLS, HTTP client, HTTP server, PostgreSQL, SQLite.
#
# Each one is a CMake option (on by default), a folder of sources, a
# public header under include/casyncio/, and a Debian package found with
# pkg-config.  An option that is on but whose package is missing stops the
# configure step with the package to install (scripts/deps.sh installs
# them all).  Sets:
#   CIO_SOURCES          += the enabled batteries' sources
#   CIO_BATTERY_TARGETS  the pkg-config imported targets to link
#   CIO_PC_REQUIRES      the pkg-config modules for casyncio.pc
#   CIO_PKG_IMPORTS      pairs: imported target prefix, pkg-config module
#                        (cmake/install.cmake writes the .pc and CMake
#                        package files from them)
# and writes include/casyncio/config.h (CIO_HAVE_TLS ...) in the build tree.

set(CIO_BATTERY_TARGETS)
set(CIO_PKG_IMPORTS)
set(CIO_PC_REQUIRES libuv)

# cio_battery(NAME OPTION DEBIAN_PACKAGE SOURCE_GLOBS... MODULES mod...)
macro(cio_battery name option package)
  cmake_parse_arguments(CB "" "" "SOURCES;MODULES" ${ARGN})
  set(CIO_HAVE_${name} 0)
  if(${option})
    set(_mods)
    foreach(m ${CB_MODULES})
      string(MAKE_C_IDENTIFIER "CIO_PC_${m}" _var)
      string(TOUPPER ${_var} _var)
      pkg_check_modules(${_var} IMPORTED_TARGET ${m})
      if(NOT ${_var}_FOUND)
        message(FATAL_ERROR
          "${option} is ON but pkg-config cannot find ${m}: install the "
          "Debian package ${package} (scripts/deps.sh does), or configure "
          "with -D${option}=OFF")
      endif()
      list(APPEND CIO_BATTERY_TARGETS PkgConfig::${_var})
      list(APPEND CIO_PKG_IMPORTS ${_var} ${m})
      string(REGEX REPLACE "[<>=].*" "" _modname "${m}")
      list(APPEND CIO_PC_REQUIRES ${_modname})
    endforeach()
    file(GLOB _srcs CONFIGURE_DEPENDS ${CB_SOURCES})
    list(APPEND CIO_SOURCES ${_srcs})
    set(CIO_HAVE_${name} 1)
  endif()
endmacro()

cio_battery(TLS CIO_WITH_TLS libssl-dev
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/src/tls/*.c
  MODULES openssl>=3.0)
cio_battery(HTTP_CLIENT CIO_WITH_HTTP_CLIENT "libcurl4-openssl-dev libjansson-dev"
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/src/http/client/*.c
  MODULES libcurl jansson)
# http-parser ships no .pc file: found as a library and header.
set(CIO_HAVE_HTTP_SERVER 0)
if(CIO_WITH_HTTP_SERVER)
  find_path(CIO_HTTP_PARSER_INCLUDE http_parser.h)
  find_library(CIO_HTTP_PARSER_LIB http_parser)
  if(NOT CIO_HTTP_PARSER_INCLUDE OR NOT CIO_HTTP_PARSER_LIB)
    message(FATAL_ERROR
      "CIO_WITH_HTTP_SERVER is ON but http_parser.h / libhttp_parser are "
      "missing: install the Debian package libhttp-parser-dev (scripts/deps.sh "
      "does), or configure with -DCIO_WITH_HTTP_SERVER=OFF")
  endif()
  add_library(cio_http_parser INTERFACE IMPORTED)
  set_target_properties(cio_http_parser PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES ${CIO_HTTP_PARSER_INCLUDE}
    INTERFACE_LINK_LIBRARIES ${CIO_HTTP_PARSER_LIB})
  cio_battery(HTTP_SERVER CIO_WITH_HTTP_SERVER libjansson-dev
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/src/http/server/*.c
    MODULES jansson)
  list(APPEND CIO_BATTERY_TARGETS cio_http_parser)
  set(CIO_PC_LIBS_PRIVATE "${CIO_PC_LIBS_PRIVATE} -lhttp_parser")
endif()
cio_battery(POSTGRES CIO_WITH_POSTGRES libpq-dev
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/src/db/postgres/*.c
  MODULES libpq)
cio_battery(SQLITE CIO_WITH_SQLITE libsqlite3-dev
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/src/db/sqlite/*.c
  MODULES sqlite3)
# What both database batteries share: the result object and the value
# parsers (src/db/*.c).
if(CIO_HAVE_POSTGRES OR CIO_HAVE_SQLITE)
  file(GLOB _srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/src/db/*.c)
  list(APPEND CIO_SOURCES ${_srcs})
endif()

list(REMOVE_DUPLICATES CIO_BATTERY_TARGETS)
list(REMOVE_DUPLICATES CIO_PC_REQUIRES)
string(REPLACE ";" " " CIO_PC_REQUIRES "${CIO_PC_REQUIRES}")
configure_file(${CMAKE_CURRENT_SOURCE_DIR}/cmake/config.h.in
               ${CMAKE_CURRENT_BINARY_DIR}/include/casyncio/config.h @ONLY)

# cio_battery_of(<file stem> <out var>): which battery a test, fuzzer or
# example belongs to by its name (test_tls_*, fuzz_http_server_*, ...):
# TLS, HTTP_CLIENT, HTTP_SERVER, POSTGRES, SQLITE, or empty for the core.
function(cio_battery_of stem out)
  set(b "")
  if(stem MATCHES "^(test|fuzz|bench|example)_tls")
    set(b TLS)
  elseif(stem MATCHES "^(test|fuzz|bench|example)_http_client")
    set(b HTTP_CLIENT)
  elseif(stem MATCHES "^(test|fuzz|bench|example)_http_server")
    set(b HTTP_SERVER)
  elseif(stem MATCHES "^(test|fuzz|bench|example)_(pg|postgres)")
    set(b POSTGRES)
  elseif(stem MATCHES "^(test|fuzz|bench|example)_sqlite")
    set(b SQLITE)
  endif()
  set(${out} "${b}" PARENT_SCOPE)
endfunction()
