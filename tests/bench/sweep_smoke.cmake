# benchmarks/suites/transfer-smoke.json end to end: every cell runs, a second
# sweep runs nothing, the report holds the best-LR table and one chart per
# optimizer. Leaves ${WORK}/results for report_browser.cmake.
include(${CMAKE_CURRENT_LIST_DIR}/smoke_common.cmake)

run_ok(${EXE} data prepare --default)
run_ok(${EXE} sweep ${SRC}/benchmarks/suites/transfer-smoke.json --out results --dry-run)
if(NOT OUT MATCHES "modular_n_embd32_lr0.1414_s1" OR NOT OUT MATCHES "8 runs")
  message(FATAL_ERROR "dry run plans the wrong runs:\n${OUT}")
endif()
run_ok(${EXE} sweep ${SRC}/benchmarks/suites/transfer-smoke.json --out results --jobs 2)
message("${OUT}")
foreach(want "sweep: 8 runs, 0 cached, 8 to run" "wrote .*report.html" "\\| adamw \\|"
        "\\| modular \\|" "sweep done: 8 runs ran, 0 cached, 0 failed")
  if(NOT OUT MATCHES "${want}")
    message(FATAL_ERROR "sweep output lacks '${want}':\n${OUT}")
  endif()
endforeach()
run_ok(${EXE} sweep ${SRC}/benchmarks/suites/transfer-smoke.json --out results --no-report)
if(NOT OUT MATCHES "8 cached, 0 to run")
  message(FATAL_ERROR "second sweep reran finished runs:\n${OUT}")
endif()
run_ok(${EXE} report results)
file(READ ${WORK}/results/report.html html)
foreach(want "chart-adamw" "chart-modular" "Best learning rate per n_embd" "n_embd 16" "n_embd 32")
  if(NOT html MATCHES "${want}")
    message(FATAL_ERROR "report.html lacks '${want}'")
  endif()
endforeach()
