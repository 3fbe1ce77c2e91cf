# Renders report.html (from bench_smoke.cmake) in headless Chromium: the page
# must load, hold its three SVG charts, and each chart, rendered on its own,
# must be non-blank: enough drawn pixels, and every optimizer's colour there.
if(NOT CHROMIUM OR NOT EXISTS "${CHROMIUM}")
  message("SKIPPED: Chromium not found; install Debian's chromium (make deps does) to run the browser test")
  return()
endif()
set(R ${WORK}/results)
# Which charts and series colours to expect: the bench smoke suite's by default;
# the sweep smoke test passes its own, comma-separated.
if(NOT CHARTS)
  set(CHARTS "chart-loss,chart-lr,chart-cost")
endif()
if(NOT COLORS)
  set(COLORS "#4e79a7,#f28e2b,#e15759")
endif()
string(REPLACE "," ";" CHARTS "${CHARTS}")
string(REPLACE "," ";" COLORS "${COLORS}")
set(flags --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --hide-scrollbars
  --user-data-dir=${WORK}/chromium-profile)
execute_process(COMMAND ${CHROMIUM} ${flags} --dump-dom file://${R}/report.html
  RESULT_VARIABLE rc OUTPUT_VARIABLE dom ERROR_VARIABLE err TIMEOUT 120)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "chromium --dump-dom failed (${rc}): ${err}")
endif()
file(READ ${R}/report.html html)
foreach(id ${CHARTS})
  if(NOT dom MATCHES "<svg[^>]*id=\"${id}\"")
    message(FATAL_ERROR "rendered DOM lacks the ${id} chart")
  endif()
  # The chart alone, in its own page, screenshotted at its size.
  string(REGEX MATCH "<svg[^>]*id=\"${id}\".*</svg>" tail "${html}")
  string(FIND "${tail}" "</svg>" end)
  math(EXPR end "${end} + 6")
  string(SUBSTRING "${tail}" 0 ${end} svg)
  file(WRITE ${WORK}/${id}.html "<!doctype html><html><body style=\"margin:0\">${svg}</body></html>")
  execute_process(COMMAND ${CHROMIUM} ${flags} --window-size=760,430
    --screenshot=${WORK}/${id}.png file://${WORK}/${id}.html
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 120)
  if(NOT rc EQUAL 0 OR NOT EXISTS ${WORK}/${id}.png)
    message(FATAL_ERROR "chromium --screenshot of ${id} failed (${rc}): ${err}")
  endif()
  # ≥ 1% of the pixels clearly drawn, and each optimizer's colour (the smoke
  # suite's adamw, muon, stiefel-polar: palette 0-2) present in the plot.
  execute_process(COMMAND ${PNG_CHECK} ${WORK}/${id}.png 0.01 ${COLORS}
    RESULT_VARIABLE rc OUTPUT_VARIABLE stats)
  message("${id}: width height nonwhite_fraction colour:pixels = ${stats}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${id} renders (nearly) blank: ${stats}")
  endif()
endforeach()
# The whole page renders too.
execute_process(COMMAND ${CHROMIUM} ${flags} --window-size=1200,2400
  --screenshot=${WORK}/report.png file://${R}/report.html RESULT_VARIABLE rc ERROR_VARIABLE err TIMEOUT 120)
execute_process(COMMAND ${PNG_CHECK} ${WORK}/report.png 0.01 ${COLORS}
  RESULT_VARIABLE rc OUTPUT_VARIABLE stats)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "report.html renders (nearly) blank: ${stats}")
endif()
