# The Python front end: tree-sitter (Debian's libtree-sitter-dev) and the tree-sitter-python
# grammar, whose C sources the npm package carries. The grammar is fetched at configure time at
# a pinned version and SHA-256 (never committed), compiled as a C static library, and linked into
# gcheck_analyzer. Included from the top-level CMakeLists after gcheck_analyzer is defined.
#
#   GCHECK_PYTHON=AUTO  build it when libtree-sitter and the grammar are available, else switch
#                       off with one status line
#   GCHECK_PYTHON=ON    the same, but a missing piece is a configure error
#   GCHECK_PYTHON=OFF   do not build it (.py files are then reported as unsupported)
#   GCHECK_TREE_SITTER_PYTHON_TARBALL=/path/tree-sitter-python-0.23.6.tgz  offline builds (the
#                       file must still match the pinned checksum)

set(GCHECK_TS_PYTHON_VERSION "0.23.6")
set(GCHECK_TS_PYTHON_SHA256 "aab5b860d93dbf84b37fed532f7dacc0468ede5387d0c74911d68f964287662a")
set(GCHECK_TS_PYTHON_URL
    "https://registry.npmjs.org/tree-sitter-python/-/tree-sitter-python-${GCHECK_TS_PYTHON_VERSION}.tgz")
set(GCHECK_TREE_SITTER_PYTHON_TARBALL "" CACHE FILEPATH
    "A local tree-sitter-python-${GCHECK_TS_PYTHON_VERSION}.tgz (offline builds; checked against the pinned SHA-256)")

set(GCHECK_PYTHON_ENABLED OFF)

# Switches the front end off (AUTO) or stops (ON) with one message.
macro(_gcheck_python_unavailable why)
  if(GCHECK_PYTHON STREQUAL "ON")
    message(FATAL_ERROR "GCHECK_PYTHON=ON: ${why}")
  endif()
  message(STATUS "Python front end: off (${why})")
  return()
endmacro()

function(_gcheck_python_setup)
  if(NOT GCHECK_PYTHON MATCHES "^(AUTO|ON|OFF)$")
    message(FATAL_ERROR "GCHECK_PYTHON must be AUTO, ON or OFF (got '${GCHECK_PYTHON}')")
  endif()
  if(GCHECK_PYTHON STREQUAL "OFF")
    message(STATUS "Python front end: off (GCHECK_PYTHON=OFF)")
    return()
  endif()

  find_path(TREE_SITTER_INCLUDE_DIR tree_sitter/api.h)
  find_library(TREE_SITTER_LIBRARY tree-sitter)
  if(NOT TREE_SITTER_INCLUDE_DIR OR NOT TREE_SITTER_LIBRARY)
    _gcheck_python_unavailable("libtree-sitter not found; apt-get install libtree-sitter-dev")
  endif()

  # The ABI range the installed library accepts.
  file(STRINGS "${TREE_SITTER_INCLUDE_DIR}/tree_sitter/api.h" _abi_lines
       REGEX "#define TREE_SITTER_(MIN_COMPATIBLE_)?LANGUAGE_VERSION [0-9]+")
  set(_abi_max "")
  set(_abi_min "")
  foreach(l ${_abi_lines})
    if(l MATCHES "MIN_COMPATIBLE_LANGUAGE_VERSION ([0-9]+)")
      set(_abi_min ${CMAKE_MATCH_1})
    elseif(l MATCHES "LANGUAGE_VERSION ([0-9]+)")
      set(_abi_max ${CMAKE_MATCH_1})
    endif()
  endforeach()

  # The grammar: a local tarball, or the npm registry; either way checked against the pin.
  set(_deps "${CMAKE_BINARY_DIR}/_deps")
  set(_tgz "${_deps}/tree-sitter-python-${GCHECK_TS_PYTHON_VERSION}.tgz")
  set(_src "${_deps}/tree-sitter-python-${GCHECK_TS_PYTHON_VERSION}")
  if(GCHECK_TREE_SITTER_PYTHON_TARBALL)
    file(SHA256 "${GCHECK_TREE_SITTER_PYTHON_TARBALL}" _sum)
    if(NOT _sum STREQUAL GCHECK_TS_PYTHON_SHA256)
      _gcheck_python_unavailable("${GCHECK_TREE_SITTER_PYTHON_TARBALL} does not match the pinned SHA-256 of tree-sitter-python ${GCHECK_TS_PYTHON_VERSION}")
    endif()
    set(_tgz "${GCHECK_TREE_SITTER_PYTHON_TARBALL}")
  else()
    set(_have OFF)
    if(EXISTS "${_tgz}")
      file(SHA256 "${_tgz}" _sum)
      if(_sum STREQUAL GCHECK_TS_PYTHON_SHA256)
        set(_have ON)
      endif()
    endif()
    if(NOT _have)
      message(STATUS "Fetching tree-sitter-python ${GCHECK_TS_PYTHON_VERSION} from the npm registry")
      file(DOWNLOAD "${GCHECK_TS_PYTHON_URL}" "${_tgz}.part"
           EXPECTED_HASH SHA256=${GCHECK_TS_PYTHON_SHA256} STATUS _st TLS_VERIFY ON)
      list(GET _st 0 _code)
      if(NOT _code EQUAL 0)
        list(GET _st 1 _msg)
        file(REMOVE "${_tgz}.part")
        _gcheck_python_unavailable("cannot fetch ${GCHECK_TS_PYTHON_URL}: ${_msg} (set GCHECK_TREE_SITTER_PYTHON_TARBALL for offline builds)")
      endif()
      file(RENAME "${_tgz}.part" "${_tgz}")
    endif()
  endif()
  if(NOT EXISTS "${_src}/src/parser.c" OR "${_tgz}" IS_NEWER_THAN "${_src}/src/parser.c")
    file(REMOVE_RECURSE "${_src}" "${_deps}/package")
    file(ARCHIVE_EXTRACT INPUT "${_tgz}" DESTINATION "${_deps}" PATTERNS "package/src/*" "package/LICENSE")
    file(RENAME "${_deps}/package" "${_src}")
  endif()

  # The grammar's ABI must be one the library accepts (0.25 grammars are ABI 15: not with 0.20).
  file(STRINGS "${_src}/src/parser.c" _lv REGEX "#define LANGUAGE_VERSION [0-9]+")
  string(REGEX REPLACE ".*LANGUAGE_VERSION ([0-9]+).*" "\\1" _grammar_abi "${_lv}")
  if(_abi_min AND _abi_max AND (_grammar_abi LESS _abi_min OR _grammar_abi GREATER _abi_max))
    _gcheck_python_unavailable("tree-sitter-python ${GCHECK_TS_PYTHON_VERSION} has grammar ABI ${_grammar_abi}; the installed libtree-sitter accepts ${_abi_min}..${_abi_max}")
  endif()

  set(_GCHECK_TS_PYTHON_SRC "${_src}" PARENT_SCOPE)
  set(_GCHECK_TS_PYTHON_ABI "${_grammar_abi}" PARENT_SCOPE)
  set(_GCHECK_TS_INCLUDE "${TREE_SITTER_INCLUDE_DIR}" PARENT_SCOPE)
  set(_GCHECK_TS_LIBRARY "${TREE_SITTER_LIBRARY}" PARENT_SCOPE)
  set(GCHECK_PYTHON_ENABLED ON PARENT_SCOPE)
endfunction()

_gcheck_python_setup()

# Targets are made at file scope (enable_language cannot run inside a function).
if(GCHECK_PYTHON_ENABLED)
  enable_language(C)
  # Generated code: compiled as is, without our warning flags.
  add_library(gcheck_ts_python STATIC "${_GCHECK_TS_PYTHON_SRC}/src/parser.c"
                                      "${_GCHECK_TS_PYTHON_SRC}/src/scanner.c")
  target_include_directories(gcheck_ts_python BEFORE PRIVATE "${_GCHECK_TS_PYTHON_SRC}/src")
  set_target_properties(gcheck_ts_python PROPERTIES C_STANDARD 11 POSITION_INDEPENDENT_CODE ON)
  target_compile_options(gcheck_ts_python PRIVATE -w)

  file(GLOB _py_sources CONFIGURE_DEPENDS "${CMAKE_SOURCE_DIR}/analyzer/python/*.cpp")
  target_sources(gcheck_analyzer PRIVATE ${_py_sources})
  target_include_directories(gcheck_analyzer PUBLIC "${_GCHECK_TS_INCLUDE}")
  target_link_libraries(gcheck_analyzer PUBLIC gcheck_ts_python "${_GCHECK_TS_LIBRARY}")
  target_compile_definitions(gcheck_analyzer PUBLIC GCHECK_HAVE_PYTHON=1
    GCHECK_TS_PYTHON_VERSION="${GCHECK_TS_PYTHON_VERSION}")
  message(STATUS "Python front end: on (tree-sitter-python ${GCHECK_TS_PYTHON_VERSION}, grammar ABI ${_GCHECK_TS_PYTHON_ABI}; ${_GCHECK_TS_LIBRARY})")
endif()
