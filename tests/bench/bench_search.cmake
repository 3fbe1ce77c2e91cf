# An adaptive LR search ("lr_search") end to end: rounds whose trials depend
# on the finished ones, the equal budget, an optimum that ends away from the
# edges when the budget allows, replay from the cache (a second bench runs
# nothing) and the report's wording.
include(${CMAKE_CURRENT_LIST_DIR}/smoke_common.cmake)

file(WRITE ${WORK}/search.json [=[
{
  "name": "search-smoke",
  "train": {"train": "data/kjv/train_*.bin", "val": "data/kjv/val_*.bin",
            "n_layer": 1, "n_head": 2, "n_embd": 32, "ctx": 32, "batch": 4,
            "steps": 20, "eval_every": 10, "eval_batches": 2, "log_every": 10},
  "optimizers": [{"optimizer": "adamw", "lr": 0.0001}],
  "lr_search": {"trials": 5, "factor": 4},
  "seeds": [1, 2],
  "target_val_loss": 3.5
}
]=])
run_ok(${EXE} data prepare --default)
run_ok(${EXE} bench search.json --out results --dry-run)
if(NOT OUT MATCHES "adamw: adaptive LR search, 5 trials .* next: lr=2.5e-05 lr=0.0001 lr=0.0004")
  message(FATAL_ERROR "dry run does not show the first round:\n${OUT}")
endif()
run_ok(${EXE} bench search.json --out results --jobs 2)
message("${OUT}")
# A default 100x too small for 20 steps: the search must walk up past the
# bracket's top edge, one trial per round after the first.
foreach(want "round 1\\): 3 runs" "round 2\\): 1 runs" "round 3\\): 1 runs"
        "phase 2 \\(best LR x seeds\\): 1 runs" "bench done: 6 runs ran")
  if(NOT OUT MATCHES "${want}")
    message(FATAL_ERROR "bench output lacks '${want}':\n${OUT}")
  endif()
endforeach()
file(GLOB trials ${WORK}/results/runs/adamw_lr*_s1)
list(LENGTH trials n)
if(NOT n EQUAL 5)
  message(FATAL_ERROR "${n} tuning runs, expected the budget of 5: ${trials}")
endif()
if(NOT EXISTS ${WORK}/results/runs/adamw_lr0.0016_s1/summary.json)
  message(FATAL_ERROR "the search did not extend past the top edge to 0.0016")
endif()
# Replayed from the cache: nothing runs again.
run_ok(${EXE} bench search.json --out results --jobs 2)
if(NOT OUT MATCHES "bench done: 0 runs ran")
  message(FATAL_ERROR "second bench reran finished runs:\n${OUT}")
endif()
# The report: the search's budget text, and the optimum still on the edge of
# what 5 trials reached (0.0064, the largest tried) is flagged.
run_ok(${EXE} report results)
file(READ ${WORK}/results/report.md md)
if(NOT md MATCHES "searched adaptively" OR NOT md MATCHES "Runs finished: 6/6"
   OR NOT md MATCHES "0.0064 \\(edge of the trials\\)")
  message(FATAL_ERROR "report.md lacks the search's budget text or its edge flag:\n${md}")
endif()
# Both grid and search in one suite is refused by name.
file(READ ${WORK}/search.json text)
string(REPLACE "\"seeds\"" "\"lr_grid\": {\"points\": 3}, \"seeds\"" text "${text}")
file(WRITE ${WORK}/both.json "${text}")
execute_process(COMMAND ${EXE} bench both.json --out r2 WORKING_DIRECTORY ${WORK}
                RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_QUIET)
if(rc EQUAL 0 OR NOT err MATCHES "either \"lr_grid\"")
  message(FATAL_ERROR "a suite with both lr_grid and lr_search was not refused: ${err}")
endif()
