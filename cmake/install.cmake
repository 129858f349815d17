# Installing casyncio and the three ways programs find it afterwards:
#
#   pkg-config casyncio            the shared library
#   pkg-config --static casyncio   everything a static link needs (with
#                                  -static: a program with no shared
#                                  library at all)
#   pkg-config casyncio-static     libcasyncio.a, system libraries shared
#   find_package(casyncio CONFIG)  casyncio::casyncio (shared) and
#                                  casyncio::casyncio_static
#
# Included by CMakeLists.txt once the library targets exist.  Reads
# CIO_PKG_IMPORTS (pairs of imported-target prefix and pkg-config module,
# from cmake/batteries.cmake) and CIO_PC_CFLAGS (flags task code must be
# compiled with, if the build defines them).  tests/install/run.sh checks
# all of it from outside the tree.

include(CMakePackageConfigHelpers)

# What users' code must be compiled with goes with the targets too, as it
# goes into the .pc files' Cflags.
if(CIO_PC_CFLAGS)
  separate_arguments(_cio_user_cflags UNIX_COMMAND "${CIO_PC_CFLAGS}")
  foreach(t casyncio casyncio_static)
    target_compile_options(${t} INTERFACE ${_cio_user_cflags})
  endforeach()
endif()

# ---- pkg-config --------------------------------------------------------
#
# pkg-config --static lists the libraries of every module in
# Requires.private with their own private libraries, and a static link
# needs each of them as an archive (lib<name>.a).  Debian lacks some: it
# ships libuv's as libuv_a.a (module libuv-static), and for libcurl and
# libpq not the archives of what they use (nghttp2, ssh2, psl, gssapi,
# ldap, zstd, pgcommon...).  So: libuv-static when it exists, and a
# module whose archives are not all there is listed by its own libraries
# in Libs.private (-lcurl), not in Requires.private.  Then `pkg-config
# --static` always gives a line that links; a program linked with
# -static still cannot use that battery (the configure step names what is
# missing, and README.md says so).

# cio_archives_missing(<prefix> <out>): the libraries of module <prefix>'s
# static closure that have no lib<name>.a.
function(cio_archives_missing prefix out)
  set(missing)
  foreach(lib ${${prefix}_STATIC_LIBRARIES})
    string(MAKE_C_IDENTIFIER "${lib}" id)
    find_library(CIO_ARCHIVE_${id} NAMES lib${lib}.a
                 HINTS ${${prefix}_STATIC_LIBRARY_DIRS})
    if(NOT CIO_ARCHIVE_${id})
      list(APPEND missing ${lib})
    endif()
  endforeach()
  list(REMOVE_DUPLICATES missing)
  set(${out} "${missing}" PARENT_SCOPE)
endfunction()

pkg_check_modules(CIO_UV_STATIC QUIET libuv-static)
if(CIO_UV_STATIC_FOUND)
  set(_requires libuv-static)
else()
  set(_requires libuv)
endif()
set(_libs_private "")
set(_all_modules ${_requires}) # for casyncio-static.pc: every module
set(_pairs ${CIO_PKG_IMPORTS})
while(_pairs)
  list(GET _pairs 0 _prefix)
  list(GET _pairs 1 _module)
  list(REMOVE_AT _pairs 0 1)
  string(REGEX REPLACE "[<>=].*" "" _name "${_module}")
  list(APPEND _all_modules ${_name})
  cio_archives_missing(${_prefix} _missing)
  if(_missing)
    message(STATUS "casyncio.pc: no static archive of ${_missing} (used by "
                   "${_name}): ${_name} is linked by name, and a program "
                   "linked with -static cannot use it")
    foreach(lib ${${_prefix}_LIBRARIES})
      string(APPEND _libs_private " -l${lib}")
    endforeach()
  else()
    list(APPEND _requires ${_name})
  endif()
endwhile()
list(REMOVE_DUPLICATES _requires)
list(REMOVE_DUPLICATES _all_modules)
string(REPLACE ";" " " CIO_PC_REQUIRES "${_requires}")
string(REPLACE ";" " " CIO_PC_STATIC_REQUIRES "${_all_modules}")
set(CIO_PC_STATIC_LIBS "${CIO_PC_LIBS_PRIVATE}") # libraries without a module
string(APPEND CIO_PC_LIBS_PRIVATE "${_libs_private}")

# The .pc files find their prefix from where they are installed, so
# `cmake --install --prefix X` works without reconfiguring.
file(RELATIVE_PATH CIO_PC_TO_PREFIX
     "/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/")
string(REGEX REPLACE "/$" "" CIO_PC_TO_PREFIX "${CIO_PC_TO_PREFIX}")
configure_file(${PROJECT_SOURCE_DIR}/cmake/casyncio.pc.in
               ${PROJECT_BINARY_DIR}/casyncio.pc @ONLY)
configure_file(${PROJECT_SOURCE_DIR}/cmake/casyncio-static.pc.in
               ${PROJECT_BINARY_DIR}/casyncio-static.pc @ONLY)

if(NOT CIO_INSTALL)
  return()
endif()

# ---- install rules and the CMake package --------------------------------

set(CIO_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/casyncio)
install(TARGETS casyncio casyncio_static EXPORT casyncioTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${PROJECT_BINARY_DIR}/include/casyncio/config.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/casyncio)
install(FILES ${PROJECT_BINARY_DIR}/casyncio.pc
              ${PROJECT_BINARY_DIR}/casyncio-static.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
install(EXPORT casyncioTargets NAMESPACE casyncio::
        DESTINATION ${CIO_CMAKE_DIR})

# The exported targets link the imported targets this build made with
# pkg_check_modules (PkgConfig::LIBUV, one per battery module) and
# cio_http_parser; casyncioConfig.cmake makes them again in the user's
# project, from the same modules.
set(CIO_CONFIG_IMPORTS LIBUV "libuv>=1.41" ${CIO_PKG_IMPORTS})
configure_package_config_file(
  ${PROJECT_SOURCE_DIR}/cmake/casyncioConfig.cmake.in
  ${PROJECT_BINARY_DIR}/casyncioConfig.cmake
  INSTALL_DESTINATION ${CIO_CMAKE_DIR})
# 0.x: a new minor version may break the API.
write_basic_package_version_file(
  ${PROJECT_BINARY_DIR}/casyncioConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/casyncioConfig.cmake
              ${PROJECT_BINARY_DIR}/casyncioConfigVersion.cmake
        DESTINATION ${CIO_CMAKE_DIR})
