# tamp_library(NAME DEPS...): one library per layer from the .cpp files of the current folder
# and its subfolders; headers are public under <tamp/LAYER/...>.
function(tamp_library name)
  cmake_parse_arguments(ARG "" "" "PUBLIC;PRIVATE" ${ARGN})
  file(GLOB_RECURSE sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cpp)
  add_library(${name} ${sources})
  target_include_directories(${name} PUBLIC $<BUILD_INTERFACE:${TAMP_INCLUDE_ROOT}>
                                            $<INSTALL_INTERFACE:include>)
  target_link_libraries(${name} PUBLIC ${ARG_PUBLIC} PRIVATE ${ARG_PRIVATE})
endfunction()
