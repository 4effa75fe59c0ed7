# tamp_library(NAME PUBLIC deps... PRIVATE deps...): one library per layer from the .cpp files
# of the current folder and its subfolders (a layer of headers only becomes an INTERFACE
# library); headers are public under <tamp/LAYER/...>.
function(tamp_library name)
  cmake_parse_arguments(ARG "" "" "PUBLIC;PRIVATE" ${ARGN})
  file(GLOB_RECURSE sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cpp)
  if(NOT sources)
    add_library(${name} INTERFACE)
    target_include_directories(${name} INTERFACE $<BUILD_INTERFACE:${TAMP_INCLUDE_ROOT}>
                                                  $<INSTALL_INTERFACE:include>)
    target_link_libraries(${name} INTERFACE ${ARG_PUBLIC})
    return()
  endif()
  add_library(${name} ${sources})
  target_include_directories(${name} PUBLIC $<BUILD_INTERFACE:${TAMP_INCLUDE_ROOT}>
                                            $<INSTALL_INTERFACE:include>)
  target_link_libraries(${name} PUBLIC ${ARG_PUBLIC} PRIVATE ${ARG_PRIVATE})
endfunction()
