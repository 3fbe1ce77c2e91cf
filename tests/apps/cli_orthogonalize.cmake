# steepest orthogonalize reads .npy, writes .npy, prints a one-line JSON report,
# and fails with a clear message on bad input.
file(MAKE_DIRECTORY ${WORK})
get_filename_component(data "${CMAKE_CURRENT_LIST_DIR}/../fixtures/gaussian_16x32_f64.npy" ABSOLUTE)
execute_process(COMMAND ${EXE} orthogonalize --in ${data} --out ${WORK}/O.npy --method svd
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "orthogonalize failed: ${rc}\n${out}\n${err}")
endif()
string(JSON method GET "${out}" method)
string(JSON smin GET "${out}" sigma_min)
string(JSON smax GET "${out}" sigma_max)
string(JSON rows GET "${out}" shape 0)
string(JSON gemms GET "${out}" gemms)
if(NOT method STREQUAL "svd" OR NOT rows EQUAL 16 OR NOT gemms EQUAL 1)
  message(FATAL_ERROR "unexpected report: ${out}")
endif()
if(smin LESS 0.999999 OR smax GREATER 1.000001)
  message(FATAL_ERROR "svd result is not orthogonal: ${out}")
endif()
if(NOT EXISTS ${WORK}/O.npy)
  message(FATAL_ERROR "no output file written")
endif()
# The written file goes back in: the polar factor of an orthogonal matrix is itself.
execute_process(COMMAND ${EXE} orthogonalize --in ${WORK}/O.npy --method polar-express --steps 8
  RESULT_VARIABLE rc OUTPUT_VARIABLE out)
string(JSON smin GET "${out}" sigma_min)
if(NOT rc EQUAL 0 OR smin LESS 0.8)
  message(FATAL_ERROR "re-orthogonalizing the output failed: ${out}")
endif()
# Bad input: an unknown method and a missing file give an error naming them.
execute_process(COMMAND ${EXE} orthogonalize --in ${data} --method quintic9
  RESULT_VARIABLE rc ERROR_VARIABLE err)
if(rc EQUAL 0 OR NOT err MATCHES "quintic9" OR NOT err MATCHES "polar-express")
  message(FATAL_ERROR "unknown method not reported clearly: ${err}")
endif()
execute_process(COMMAND ${EXE} orthogonalize --in ${WORK}/nope.npy
  RESULT_VARIABLE rc ERROR_VARIABLE err)
if(rc EQUAL 0 OR NOT err MATCHES "nope.npy")
  message(FATAL_ERROR "missing file not reported clearly: ${err}")
endif()
