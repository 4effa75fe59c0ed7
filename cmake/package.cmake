# `cmake --install`: the layer libraries (exported as tamp::autograd ... tamp::scheduler plus
# the umbrella tamp::tamp), their public headers under include/tamp/, tamp/tamp.h and
# tamp/version.h, the `tamp` CLI, a CMake package (tampConfig.cmake, tampConfigVersion.cmake)
# and tamp.pc for pkg-config. Included last, once every layer has declared its dependencies.
include(CMakePackageConfigHelpers)

get_property(tamp_libraries GLOBAL PROPERTY TAMP_LIBRARIES)
add_library(tamp_all INTERFACE)
target_link_libraries(tamp_all INTERFACE ${tamp_libraries})
set_target_properties(tamp_all PROPERTIES EXPORT_NAME tamp)
add_library(tamp::tamp ALIAS tamp_all)

install(TARGETS ${tamp_libraries} tamp_all EXPORT tampTargets COMPONENT dev
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS tamp RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${CMAKE_SOURCE_DIR}/tamp.h ${TAMP_GENERATED_INCLUDE}/tamp/version.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/tamp COMPONENT dev)

# What an installed library still needs from outside: every dependency left in the exported
# link interface (public ones, and private ones of static libraries as $<LINK_ONLY:...>;
# header-only private ones were made build-only by tamp_library). Each known dependency maps
# to its find_dependency() call and its pkg-config terms; an unknown one is a warning.
set(tamp_link_items "")
foreach(lib ${tamp_libraries})
  get_target_property(items ${lib} INTERFACE_LINK_LIBRARIES)
  if(items)
    list(APPEND tamp_link_items ${items})
  endif()
endforeach()
list(TRANSFORM tamp_link_items REPLACE "^\\$<LINK_ONLY:(.*)>$" "\\1")
list(FILTER tamp_link_items EXCLUDE REGEX "^\\$<BUILD_INTERFACE:")
list(FILTER tamp_link_items EXCLUDE REGEX "^tamp_")
list(REMOVE_DUPLICATES tamp_link_items)

# (prefix of the link item; find_dependency arguments; pkg-config Requires; extra Libs)
set(tamp_known_dependencies
  "^fmt::|fmt|fmt|"
  "^OpenMP::|OpenMP COMPONENTS CXX||-fopenmp"
  "^Eigen3::|Eigen3 3.4 NO_MODULE|eigen3|"
  "^hwy::|hwy 1.0|libhwy|"
  "^protobuf::|Protobuf|protobuf|"
  "^onnx(_proto)?$|ONNX|protobuf|-lonnx -lonnx_proto"
  "^ZLIB::|ZLIB|zlib|"
  "^HDF5::|HDF5 COMPONENTS CXX|hdf5|-lhdf5_cpp"  # CXX brings the C library too, and needs no C compiler
  "^MPI::|MPI COMPONENTS CXX|mpi-cxx|"
  "^yaml-cpp|yaml-cpp|yaml-cpp|"
  "^nlohmann_json::|nlohmann_json||")
set(TAMP_FIND_DEPENDENCIES "")
set(TAMP_PC_REQUIRES "")
set(TAMP_PC_LIBS "")
set(unknown ${tamp_link_items})
foreach(entry ${tamp_known_dependencies})
  string(REPLACE "|" ";" fields "${entry}")
  list(GET fields 0 pattern)
  list(GET fields 1 find_args)
  list(GET fields 2 pc_requires)
  list(GET fields 3 pc_libs)
  set(used FALSE)
  foreach(item ${tamp_link_items})
    if(item MATCHES "${pattern}")
      set(used TRUE)
      list(REMOVE_ITEM unknown ${item})
    endif()
  endforeach()
  if(used)
    string(APPEND TAMP_FIND_DEPENDENCIES "find_dependency(${find_args})\n")
    if(pc_requires AND NOT pc_requires IN_LIST TAMP_PC_REQUIRES)
      list(APPEND TAMP_PC_REQUIRES ${pc_requires})
    endif()
    if(pc_libs)
      string(APPEND TAMP_PC_LIBS " ${pc_libs}")
    endif()
  endif()
endforeach()
if(unknown)  # the installed package would not link: standalone_package fails until it is added
  message(WARNING "cmake/package.cmake: add the installed package's find_dependency for: ${unknown}")
endif()
list(JOIN TAMP_PC_REQUIRES ", " TAMP_PC_REQUIRES)

set(config_dir ${CMAKE_INSTALL_LIBDIR}/cmake/tamp)
install(EXPORT tampTargets NAMESPACE tamp:: DESTINATION ${config_dir} COMPONENT dev)
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/tampConfig.cmake.in
                              ${CMAKE_BINARY_DIR}/package/tampConfig.cmake INSTALL_DESTINATION ${config_dir})
# 0.x: a minor version may break the API, so only the same minor is compatible.
write_basic_package_version_file(${CMAKE_BINARY_DIR}/package/tampConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/package/tampConfig.cmake ${CMAKE_BINARY_DIR}/package/tampConfigVersion.cmake
        DESTINATION ${config_dir} COMPONENT dev)

# pkg-config: static libraries, so their dependencies go in Libs/Requires (not .private).
# The prefix is found from the .pc file's own place, so `cmake --install --prefix` works.
file(RELATIVE_PATH TAMP_PC_PREFIX_FROM_PCFILEDIR ${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig ${CMAKE_INSTALL_PREFIX})
string(REGEX REPLACE "/$" "" TAMP_PC_PREFIX_FROM_PCFILEDIR "${TAMP_PC_PREFIX_FROM_PCFILEDIR}")
set(TAMP_PC_LAYER_LIBS "")
foreach(lib ${tamp_libraries})
  get_target_property(type ${lib} TYPE)
  if(NOT type STREQUAL "INTERFACE_LIBRARY")
    list(PREPEND TAMP_PC_LAYER_LIBS -l${lib})  # dependents first: scheduler ... autograd
  endif()
endforeach()
list(JOIN TAMP_PC_LAYER_LIBS " " TAMP_PC_LAYER_LIBS)
configure_file(${CMAKE_CURRENT_LIST_DIR}/tamp.pc.in ${CMAKE_BINARY_DIR}/package/tamp.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/package/tamp.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT dev)
