# tamp_library(NAME PUBLIC deps... PRIVATE deps...): one library per layer from the .cpp files
# of the current folder and its subfolders (a layer of headers only becomes an INTERFACE
# library); headers are public under <tamp/LAYER/...>.
#
# Installed (cmake/package.cmake): the library as tamp::LAYER (tamp_nn -> tamp::nn) and the
# layer's public headers, every .h of the folder except those under kernels/, ops/ and detail/
# (internal: they may include Eigen, protobuf or MPI). Private header-only dependencies
# (Eigen) are build-only, so an installed static library does not ask users to find them.
set(TAMP_INTERNAL_HEADER_DIRS kernels ops detail)

# The public headers of the layer in the current folder, relative to it.
function(tamp_public_headers out)
  file(GLOB_RECURSE headers RELATIVE ${CMAKE_CURRENT_SOURCE_DIR} CONFIGURE_DEPENDS
       ${CMAKE_CURRENT_SOURCE_DIR}/*.h)
  foreach(dir ${TAMP_INTERNAL_HEADER_DIRS})
    list(FILTER headers EXCLUDE REGEX "(^|/)${dir}/")
  endforeach()
  set(${out} ${headers} PARENT_SCOPE)
endfunction()

function(tamp_library name)
  cmake_parse_arguments(ARG "" "" "PUBLIC;PRIVATE" ${ARGN})
  file(GLOB_RECURSE sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cpp)
  string(REGEX REPLACE "^tamp_" "" layer ${name})
  set(include_dirs $<BUILD_INTERFACE:${TAMP_INCLUDE_ROOT}> $<BUILD_INTERFACE:${TAMP_GENERATED_INCLUDE}>
                   $<INSTALL_INTERFACE:include>)
  if(NOT sources)
    add_library(${name} INTERFACE)
    target_include_directories(${name} INTERFACE ${include_dirs})
    target_link_libraries(${name} INTERFACE ${ARG_PUBLIC})
    target_compile_features(${name} INTERFACE cxx_std_20)
  else()
    add_library(${name} ${sources})
    target_include_directories(${name} PUBLIC ${include_dirs})
    set(private "")
    foreach(dep ${ARG_PRIVATE})
      set(header_only FALSE)
      if(TARGET ${dep})  # an INTERFACE target that links nothing: headers only (Eigen)
        get_target_property(type ${dep} TYPE)
        get_target_property(links ${dep} INTERFACE_LINK_LIBRARIES)
        get_target_property(link_options ${dep} INTERFACE_LINK_OPTIONS)
        if(type STREQUAL "INTERFACE_LIBRARY" AND NOT links AND NOT link_options)
          set(header_only TRUE)
        endif()
      endif()
      if(header_only)
        list(APPEND private $<BUILD_INTERFACE:${dep}>)
      else()
        list(APPEND private ${dep})
      endif()
    endforeach()
    target_link_libraries(${name} PUBLIC ${ARG_PUBLIC} PRIVATE ${private})
    target_compile_features(${name} PUBLIC cxx_std_20)
  endif()
  set_target_properties(${name} PROPERTIES EXPORT_NAME ${layer})
  add_library(tamp::${layer} ALIAS ${name})
  set_property(GLOBAL APPEND PROPERTY TAMP_LIBRARIES ${name})

  tamp_public_headers(headers)
  foreach(h ${headers})
    get_filename_component(dir ${h} DIRECTORY)
    install(FILES ${h} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/tamp/${layer}/${dir} COMPONENT dev)
  endforeach()
  list(TRANSFORM headers PREPEND ${layer}/)
  set_property(GLOBAL APPEND PROPERTY TAMP_PUBLIC_HEADERS ${headers})
endfunction()
