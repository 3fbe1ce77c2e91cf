# Every command answers --help with exit 0 and a usage line.
foreach(cmd "" "orthogonalize" "optimizers")
  separate_arguments(args UNIX_COMMAND "${cmd} --help")
  execute_process(COMMAND ${EXE} ${args} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0 OR NOT out MATCHES "Usage")
    message(FATAL_ERROR "steepest ${cmd} --help: rc=${rc}\n${out}\n${err}")
  endif()
endforeach()
execute_process(COMMAND ${EXE} optimizers RESULT_VARIABLE rc OUTPUT_VARIABLE out)
foreach(name modular muon adamw lion signsgd sgd spectral-descent htmuon dynmuon mucon contra-muon-record freon
        kaon rmnp normuon adamuon dion manifold-muon stiefel keller polar-express you6 convergent
        cubic svd turbo- "--opt p=0.125")
  if(NOT out MATCHES "${name}")
    message(FATAL_ERROR "steepest optimizers does not list '${name}':\n${out}")
  endif()
endforeach()
