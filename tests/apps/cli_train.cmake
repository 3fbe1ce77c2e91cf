# steepest data prepare / train / eval / sample end to end through the CLI, and
# the flag names other tools rely on.
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})
function(run_ok)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  set(OUT "${out}" PARENT_SCOPE)
endfunction()

# Every documented flag lands in the resolved config.
run_ok(${EXE} train --print-config --train "a*.bin" --val "b*.bin" --n-layer 2 --n-head 2
  --n-embd 64 --ctx 32 --batch 3 --steps 5 --optimizer lion --lr 0.001 --seed 7 --threads 1
  --eval-every 3 --out ${WORK}/x --checkpoint-every 2)
foreach(pair "train;a*.bin" "val;b*.bin" "n_layer;2" "n_head;2" "n_embd;64" "ctx;32" "batch;3"
        "steps;5" "optimizer;lion" "lr;0.001" "seed;7" "threads;1" "eval_every;3"
        "checkpoint_every;2")
  list(GET pair 0 key)
  list(GET pair 1 want)
  string(JSON got GET "${OUT}" ${key})
  if(NOT got STREQUAL want)
    message(FATAL_ERROR "--print-config: ${key} = '${got}', expected '${want}'\n${OUT}")
  endif()
endforeach()

# The modular-norm GPT switches: off by default, on alone, off again with =false.
run_ok(${EXE} train --print-config --residual-mixing --attn-1-over-d --orthogonal-init
  --residual-mixing=false)
foreach(pair "residual_mixing;OFF" "attn_1_over_d;ON" "orthogonal_init;ON")
  list(GET pair 0 key)
  list(GET pair 1 want)
  string(JSON got GET "${OUT}" ${key})
  if((want AND NOT got) OR (NOT want AND got))
    message(FATAL_ERROR "--print-config: ${key} = '${got}', expected ${want}\n${OUT}")
  endif()
endforeach()

# --config file, overridden by a flag.
file(WRITE ${WORK}/c.json "{\"n_layer\": 3, \"batch\": 9}")
run_ok(${EXE} train --print-config --config ${WORK}/c.json --batch 5)
string(JSON nl GET "${OUT}" n_layer)
string(JSON b GET "${OUT}" batch)
if(NOT nl EQUAL 3 OR NOT b EQUAL 5)
  message(FATAL_ERROR "config file merge wrong: ${OUT}")
endif()

# Optimizer hyperparameters: --opt KEY=VALUE over the config file's "opt" object.
file(WRITE ${WORK}/h.json "{\"optimizer\": \"htmuon\", \"opt\": {\"p\": 0.5, \"interval\": 4}}")
run_ok(${EXE} train --print-config --config ${WORK}/h.json --opt p=0.25 --opt mode=interval)
string(JSON p GET "${OUT}" opt p)
string(JSON mode GET "${OUT}" opt mode)
string(JSON ivl GET "${OUT}" opt interval)
if(NOT p STREQUAL "0.25" OR NOT mode STREQUAL "interval" OR NOT ivl EQUAL 4)
  message(FATAL_ERROR "--opt merge wrong: ${OUT}")
endif()
execute_process(COMMAND ${EXE} train --print-config --optimizer rmnp --opt p=2
  RESULT_VARIABLE rc ERROR_VARIABLE err)
if(rc EQUAL 0 OR NOT err MATCHES "rmnp" OR NOT err MATCHES "'p'" OR NOT err MATCHES "momentum")
  message(FATAL_ERROR "unknown --opt key not reported with the valid ones: ${err}")
endif()
execute_process(COMMAND ${EXE} train --print-config --opt p RESULT_VARIABLE rc ERROR_VARIABLE err)
if(rc EQUAL 0 OR NOT err MATCHES "KEY=VALUE")
  message(FATAL_ERROR "malformed --opt not reported: ${err}")
endif()

# A bad value is named.
execute_process(COMMAND ${EXE} train --print-config --n-layer two RESULT_VARIABLE rc ERROR_VARIABLE err)
if(rc EQUAL 0 OR NOT err MATCHES "n-layer")
  message(FATAL_ERROR "bad --n-layer not reported: ${err}")
endif()

# Prepare a small corpus, train, resume, eval, sample.
set(text "")
foreach(i RANGE 300)
  string(APPEND text "And the earth was without form, and void; verse ${i}.\n")
endforeach()
file(WRITE ${WORK}/t.txt "${text}")
run_ok(${EXE} data prepare --text ${WORK}/t.txt --out ${WORK}/data --val-fraction 0.1)
set(common --train "${WORK}/data/train_*.bin" --val "${WORK}/data/val_*.bin" --n-layer 1
  --n-head 2 --n-embd 32 --ctx 32 --batch 4 --eval-every 4 --eval-batches 2 --log-every 1
  --threads 1)
run_ok(${EXE} train ${common} --steps 6 --out ${WORK}/run --checkpoint-every 3)
foreach(f config.json metrics.jsonl checkpoint.pt ckpt-3.pt ckpt-6.pt summary.json)
  if(NOT EXISTS ${WORK}/run/${f})
    message(FATAL_ERROR "run directory lacks ${f}")
  endif()
endforeach()
execute_process(COMMAND ${EXE} train ${common} --steps 6 --out ${WORK}/run
  RESULT_VARIABLE rc ERROR_VARIABLE err)
if(rc EQUAL 0 OR NOT err MATCHES "--overwrite")
  message(FATAL_ERROR "an existing run was not protected: ${err}")
endif()
# Resuming an earlier checkpoint in place would overwrite ckpt-6.pt: refused
# without --overwrite (issue #12), then done with it.
execute_process(COMMAND ${EXE} train --resume ${WORK}/run/ckpt-3.pt --steps 8
  RESULT_VARIABLE rc ERROR_VARIABLE err)
if(rc EQUAL 0 OR NOT err MATCHES "ckpt-6.pt")
  message(FATAL_ERROR "resuming ckpt-3.pt in place did not protect ckpt-6.pt: ${err}")
endif()
run_ok(${EXE} train --resume ${WORK}/run/ckpt-3.pt --steps 8 --overwrite)
file(STRINGS ${WORK}/run/metrics.jsonl lines)
list(LENGTH lines n)
if(NOT n EQUAL 8)
  message(FATAL_ERROR "resumed run should hold steps 1-8 once each, has ${n} lines")
endif()
run_ok(${EXE} eval --run ${WORK}/run)
string(JSON loss GET "${OUT}" val_loss)
string(JSON step GET "${OUT}" step)
if(NOT step EQUAL 8 OR loss GREATER 5.6)
  message(FATAL_ERROR "eval: ${OUT}")
endif()
run_ok(${EXE} sample --run ${WORK}/run --prompt "And the" --tokens 20 --seed 1)
if(NOT OUT MATCHES "^And the")
  message(FATAL_ERROR "sample does not continue the prompt: ${OUT}")
endif()

# The run's weight spectra: a table row per matrix, and JSON records with the
# fitted alpha (1 layer: 6 hidden matrices, the embedding and the head).
run_ok(${EXE} spectrum --run ${WORK}/run)
if(NOT OUT MATCHES "step 8:" OR NOT OUT MATCHES "hidden" OR NOT OUT MATCHES "alpha")
  message(FATAL_ERROR "spectrum table: ${OUT}")
endif()
run_ok(${EXE} spectrum --run ${WORK}/run --json --keep 4)
string(REGEX MATCHALL "\n" lines "${OUT}")
list(LENGTH lines n)
string(REGEX MATCH "^[^\n]*" first "${OUT}")
string(JSON est GET "${first}" alpha estimator)
string(JSON step GET "${first}" step)
if(NOT n EQUAL 8 OR NOT est STREQUAL "clauset-mle" OR NOT step EQUAL 8)
  message(FATAL_ERROR "spectrum --json: ${n} records, estimator ${est}, step ${step}:\n${OUT}")
endif()
execute_process(COMMAND ${EXE} spectrum --run ${WORK}/no-such-run RESULT_VARIABLE rc
  ERROR_VARIABLE err)
if(rc EQUAL 0 OR NOT err MATCHES "no-such-run")
  message(FATAL_ERROR "spectrum on a missing run: ${rc} ${err}")
endif()

# train --spectra-every: spectra.jsonl, which spectrum shows by step.
run_ok(${EXE} train ${common} --steps 4 --spectra-every 2 --out ${WORK}/spectra)
file(STRINGS ${WORK}/spectra/spectra.jsonl records)
list(LENGTH records n)
if(NOT n EQUAL 12)  # steps 2 and 4 x 6 hidden matrices
  message(FATAL_ERROR "spectra.jsonl has ${n} records, expected 12")
endif()
run_ok(${EXE} spectrum --run ${WORK}/spectra --step 2)
if(NOT OUT MATCHES "step 2: 6 hidden matrices" OR NOT OUT MATCHES "band")
  message(FATAL_ERROR "spectrum --step 2: ${OUT}")
endif()
execute_process(COMMAND ${EXE} spectrum --run ${WORK}/spectra --step 3 RESULT_VARIABLE rc
  ERROR_VARIABLE err)
if(rc EQUAL 0 OR NOT err MATCHES "recorded steps: 2, 4")
  message(FATAL_ERROR "spectrum --step 3 should list the recorded steps: ${rc} ${err}")
endif()
