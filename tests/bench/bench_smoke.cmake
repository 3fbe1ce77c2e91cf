# benchmarks/suites/smoke.json end to end: data, both phases, the cache (a
# second bench runs nothing), a run killed before finishing is redone, and
# the report files. Leaves ${WORK}/results for report_browser.cmake.
include(${CMAKE_CURRENT_LIST_DIR}/smoke_common.cmake)

# The suite reads data/kjv/ relative to the working directory.
run_ok(${EXE} data prepare --default)
run_ok(${EXE} bench ${SRC}/benchmarks/suites/smoke.json --out results --jobs 2)
message("${OUT}")
foreach(want "phase 1 \\(LR trials\\): 6 runs, 0 cached, 6 to run" "phase 2 \\(best LR x seeds\\): 3 runs"
        "wrote .*report.html" "bench done: 9 runs ran, 0 cached, 0 failed")
  if(NOT OUT MATCHES "${want}")
    message(FATAL_ERROR "bench output lacks '${want}':\n${OUT}")
  endif()
endforeach()

# Resumable: nothing is rerun...
run_ok(${EXE} bench ${SRC}/benchmarks/suites/smoke.json --out results --jobs 2)
if(NOT OUT MATCHES "6 cached, 0 to run" OR NOT OUT MATCHES "3 cached, 0 to run")
  message(FATAL_ERROR "second bench reran finished runs:\n${OUT}")
endif()
# ...except a run that never finished (no summary.json), and only that one.
file(REMOVE ${WORK}/results/runs/muon_lr0.01155_s1/summary.json)
run_ok(${EXE} bench ${SRC}/benchmarks/suites/smoke.json --out results --no-report)
if(NOT OUT MATCHES "5 cached, 1 to run" OR NOT OUT MATCHES "muon_lr0.01155_s1")
  message(FATAL_ERROR "an unfinished run was not redone (alone):\n${OUT}")
endif()

# The report: every optimizer in the table, three charts.
run_ok(${EXE} report results)
foreach(name adamw muon stiefel-polar)
  if(NOT OUT MATCHES "\\| ${name}")
    message(FATAL_ERROR "report table lacks ${name}:\n${OUT}")
  endif()
endforeach()
file(READ ${WORK}/results/report.html html)
foreach(id chart-loss chart-lr chart-cost summary runs)
  if(NOT html MATCHES "id=\"${id}\"")
    message(FATAL_ERROR "report.html lacks #${id}")
  endif()
endforeach()
if(html MATCHES "<script" OR html MATCHES "(src|href)=\"?https?:" OR html MATCHES "url\\(")
  message(FATAL_ERROR "report.html must be self-contained (no scripts, no network)")
endif()
if(NOT EXISTS ${WORK}/results/report.md)
  message(FATAL_ERROR "no report.md")
endif()

# "spectra_every" in the suite's train object: every run records its spectra
# (steps 15 and 30 × 6 hidden matrices of the 1-layer model), and the report
# draws them.
file(STRINGS ${WORK}/results/runs/muon_lr0.01155_s1/spectra.jsonl spectra)
list(LENGTH spectra n)
if(NOT n EQUAL 12)
  message(FATAL_ERROR "muon_lr0.01155_s1/spectra.jsonl has ${n} records, expected 12")
endif()
if(NOT html MATCHES "<h2>Spectra</h2>")
  message(FATAL_ERROR "report.html lacks the Spectra section")
endif()
# compare-scales on a copy of the same results: identical rankings (τ = 1; its
# interval resamples the seeds of each side independently, so it is wider), the
# markdown file written, and a single directory (or one given twice) refused.
file(REMOVE_RECURSE ${WORK}/copy)
file(COPY ${WORK}/results DESTINATION ${WORK}/copy)
run_ok(${EXE} compare-scales results copy/results --out scales.md)
if(NOT OUT MATCHES "steps\\) \\| 1.00 \\| " OR NOT EXISTS ${WORK}/scales.md)
  message(FATAL_ERROR "compare-scales of one ranking with itself:\n${OUT}")
endif()
execute_process(COMMAND ${EXE} compare-scales results WORKING_DIRECTORY ${WORK}
                RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE err)
if(rc EQUAL 0)
  message(FATAL_ERROR "compare-scales with one directory was accepted")
endif()
# Against a baseline, at another target: both other optimizers paired on both
# seeds, the table in report.md and report.html; an unknown baseline is named.
run_ok(${EXE} report results --baseline muon --target 4.0)
if(NOT OUT MATCHES "## Against muon" OR NOT OUT MATCHES "\\| adamw \\| [-+][0-9.]+ \\([-+]"
   OR NOT OUT MATCHES "\\| stiefel-polar \\| [-+][0-9.]+ \\(.*\\) \\| 2 \\|")
  message(FATAL_ERROR "report --baseline muon:\n${OUT}")
endif()
file(READ ${WORK}/results/report.html html)
file(READ ${WORK}/results/report.md md)
if(NOT html MATCHES "id=\"baseline\"" OR NOT md MATCHES "## Against muon")
  message(FATAL_ERROR "the baseline table is missing from report.html or report.md")
endif()
execute_process(COMMAND ${EXE} report results --baseline nadam WORKING_DIRECTORY ${WORK}
                RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE err)
if(rc EQUAL 0 OR NOT err MATCHES "nadam" OR NOT err MATCHES "stiefel-polar")
  message(FATAL_ERROR "an unknown --baseline was not named with the labels: ${err}")
endif()
foreach(bad 0 -1)
  execute_process(COMMAND ${EXE} report results --target ${bad} WORKING_DIRECTORY ${WORK}
                  RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE err)
  if(rc EQUAL 0 OR NOT err MATCHES "--target must be a positive val loss")
    message(FATAL_ERROR "report --target ${bad} was not refused by name: ${err}")
  endif()
endforeach()
run_ok(${EXE} compare-scales results copy/results --baseline muon --target 4.0)
if(NOT OUT MATCHES "Speed-up over muon")
  message(FATAL_ERROR "compare-scales --baseline muon:\n${OUT}")
endif()
run_ok(${EXE} report results)  # leave the plain report for report_browser.cmake
# The study script (docs/RESULTS.md, issue #14) reads them; standard library only.
find_program(PYTHON3 NAMES python3)
if(PYTHON3)
  execute_process(COMMAND ${PYTHON3} ${SRC}/benchmarks/spectra_study.py ${WORK}/results
    RESULT_VARIABLE rc OUTPUT_VARIABLE study ERROR_VARIABLE err)
  foreach(want "### Weight tails" "\\| muon \\|" "### Momentum spectra" "steps to error")
    if(NOT rc EQUAL 0 OR NOT study MATCHES "${want}")
      message(FATAL_ERROR "spectra_study.py: rc ${rc}, no '${want}':\n${study}\n${err}")
    endif()
  endforeach()
endif()

# Bad input is named.
execute_process(COMMAND ${EXE} report ${WORK}/nothing-here RESULT_VARIABLE rc ERROR_VARIABLE err)
if(rc EQUAL 0 OR NOT err MATCHES "suite.json")
  message(FATAL_ERROR "report on a non-results directory not reported: ${err}")
endif()
