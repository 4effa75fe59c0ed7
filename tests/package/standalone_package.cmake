# ctest -R standalone_package: tamp installed into WORK_DIR/prefix as a user would, then used
# from outside the tree — examples/standalone through find_package(tamp), a one-file program
# through pkg-config — and the installed CLI asked for its version. Every step's time is
# printed (the test's cost is the install + the two builds).
foreach(var BUILD_DIR SOURCE_DIR WORK_DIR CXX GENERATOR VERSION)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "standalone_package.cmake: -D${var}= missing")
  endif()
endforeach()
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)

function(step name)
  string(TIMESTAMP t0 "%s")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  string(TIMESTAMP t1 "%s")
  math(EXPR dt "${t1} - ${t0}")
  message(STATUS "${name}: ${dt} s")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${name} failed (${rc}):\n${out}\n${err}")
  endif()
  set(step_output "${out}" PARENT_SCOPE)
endfunction()

step("install" ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})
foreach(f include/tamp/tamp.h include/tamp/version.h include/tamp/autograd/tensor.h bin/tamp)
  if(NOT EXISTS ${prefix}/${f})
    message(FATAL_ERROR "not installed: ${f}")
  endif()
endforeach()
# Installed headers = the public API: none from an internal folder (detail/, kernels/, ops/:
# cmake/tamp_library.cmake) and the same set public_headers_alone compiles.
file(GLOB_RECURSE installed_headers RELATIVE ${prefix}/include/tamp ${prefix}/include/tamp/*.h)
list(LENGTH installed_headers n_installed)
message(STATUS "installed headers: ${n_installed}")
set(internal ${installed_headers})
list(FILTER internal INCLUDE REGEX "(^|/)(detail|kernels|ops)/")
if(internal)
  message(FATAL_ERROR "internal headers installed: ${internal}")
endif()
file(STRINGS ${BUILD_DIR}/tests/package/public_headers.txt public_headers)
list(SORT installed_headers)
list(SORT public_headers)
if(NOT installed_headers STREQUAL public_headers)
  set(only_installed ${installed_headers})
  list(REMOVE_ITEM only_installed ${public_headers})
  set(only_listed ${public_headers})
  list(REMOVE_ITEM only_listed ${installed_headers})
  message(FATAL_ERROR "installed headers differ from the public ones: installed only: ${only_installed}; "
                      "public but not installed: ${only_listed}")
endif()

# The CLI knows its version.
step("tamp --version" ${prefix}/bin/tamp --version)
if(NOT step_output MATCHES "^tamp ${VERSION} \\(kernels: [a-z0-9_]+")
  message(FATAL_ERROR "tamp --version printed '${step_output}', expected 'tamp ${VERSION} (kernels: ...'")
endif()

# find_package(tamp) from a separate project; the source tree is not on any path it sees.
set(launcher "")
find_program(ccache ccache)
if(ccache)
  set(launcher -DCMAKE_CXX_COMPILER_LAUNCHER=${ccache})
endif()
step("configure examples/standalone" ${CMAKE_COMMAND} -S ${SOURCE_DIR}/examples/standalone -B ${WORK_DIR}/build
     -G ${GENERATOR} -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_CXX_COMPILER=${CXX} ${launcher})
step("build examples/standalone" ${CMAKE_COMMAND} --build ${WORK_DIR}/build)
step("run examples/standalone" ${WORK_DIR}/build/standalone ${SOURCE_DIR}/tests/data/models/cnn.onnx
     ${WORK_DIR}/cnn_qat_int8.onnx)
message(STATUS "${step_output}")
if(NOT step_output MATCHES "written by tamp ${VERSION}")
  message(FATAL_ERROR "examples/standalone did not report the exported model's producer")
endif()
step("tamp inspect the exported model" ${prefix}/bin/tamp inspect ${WORK_DIR}/cnn_qat_int8.onnx --json)
if(NOT step_output MATCHES "\"name\": *\"tamp\"" OR NOT step_output MATCHES "\"version\": *\"${VERSION}\"")
  message(FATAL_ERROR "the exported model's producer is not tamp ${VERSION}:\n${step_output}")
endif()

# pkg-config: a program built with the flags tamp.pc gives, nothing else.
find_program(pkg_config pkg-config)
if(NOT pkg_config)
  message(FATAL_ERROR "pkg-config not found")
endif()
set(ENV{PKG_CONFIG_PATH} "")
file(GLOB_RECURSE pc_files ${prefix}/*/tamp.pc)
list(GET pc_files 0 pc_file)
get_filename_component(pc_dir ${pc_file} DIRECTORY)
set(ENV{PKG_CONFIG_PATH} ${pc_dir})
step("pkg-config --modversion" ${pkg_config} --modversion tamp)
string(STRIP "${step_output}" pc_version)
if(NOT pc_version STREQUAL VERSION)
  message(FATAL_ERROR "pkg-config says version ${pc_version}, expected ${VERSION}")
endif()
step("pkg-config --cflags --libs" ${pkg_config} --cflags --libs tamp)
string(STRIP "${step_output}" flags)
separate_arguments(flags UNIX_COMMAND "${flags}")
file(WRITE ${WORK_DIR}/pc_main.cpp [=[
#include <tamp/tamp.h>
#include <cstdio>
int main(int argc, char** argv) {
  tamp::nn::GraphModule m = tamp::io::load_onnx(argv[1]);
  std::printf("tamp %s: %zu parameters\n", tamp::kVersion, m.named_parameters().size());
}
]=])
step("pkg-config build" ${CXX} -std=c++20 -O1 ${WORK_DIR}/pc_main.cpp -o ${WORK_DIR}/pc_main ${flags})
step("pkg-config run" ${WORK_DIR}/pc_main ${SOURCE_DIR}/tests/data/models/cnn.onnx)
if(NOT step_output MATCHES "^tamp ${VERSION}: [1-9][0-9]* parameters")
  message(FATAL_ERROR "pkg-config program printed '${step_output}'")
endif()
message(STATUS "${step_output}")
