# `make memcheck`: the unit tests and the integration tests that are not
# timing-sensitive, with keeld (or the test binary) under valgrind memcheck.
# They only exist in the "memcheck" test configuration, so a plain `ctest`
# never runs them:  ctest --test-dir BUILD -C memcheck -L memcheck
# Any valgrind error (invalid access, uninitialised read, definite leak)
# makes the process exit 99 and the test fail. Reports go to BUILD/memcheck.
find_program(KEEL_VALGRIND valgrind)
if(NOT KEEL_VALGRIND)
  return()
endif()

set(KEEL_MEMCHECK_DIR ${CMAKE_BINARY_DIR}/memcheck)
set(KEEL_MEMCHECK_SUPP ${CMAKE_SOURCE_DIR}/tests/tools/valgrind.supp)
# The wrapper sits next to keeld: scripts find plugins and keelctl through
# $(dirname "$KEELD").
configure_file(${CMAKE_SOURCE_DIR}/tests/tools/keeld-valgrind.sh
               ${CMAKE_BINARY_DIR}/bin/keeld-valgrind COPYONLY)

# Integration scripts that make sense ~20-50x slower. Left out: the crash and
# chaos tests (kill -9, abort()ing steps, fault injection, a full disk),
# slow-client timeouts, the browser tests and install (no keeld code of its
# own beyond what the others cover).
set(KEEL_MEMCHECK_INTEGRATION
    alarm config_errors http_admin http_basic http_orders http_readiness
    http_security http_tls keelctl lifecycle loader_errors metrics
    orders_e2e orders_poison queue_backpressure
    CACHE STRING "integration tests run with keeld under valgrind by make memcheck")

foreach(name ${KEEL_MEMCHECK_INTEGRATION})
  set(script ${CMAKE_SOURCE_DIR}/tests/integration/${name}.sh)
  if(NOT EXISTS ${script})
    continue()
  endif()
  add_test(NAME memcheck.integration.${name} COMMAND bash ${script} CONFIGURATIONS memcheck)
  set_tests_properties(memcheck.integration.${name} PROPERTIES
    LABELS memcheck TIMEOUT 1800 SKIP_RETURN_CODE 77
    ENVIRONMENT "KEELD=${CMAKE_BINARY_DIR}/bin/keeld-valgrind;REAL_KEELD=$<TARGET_FILE:keeld>;KEEL_VALGRIND_SUPP=${KEEL_MEMCHECK_SUPP};KEEL_MEMCHECK_LOG_DIR=${KEEL_MEMCHECK_DIR}/integration.${name};KEEL_TEST_PLUGIN_DIR=${CMAKE_BINARY_DIR}/tests/plugins;KEEL_SOURCE_DIR=${CMAKE_SOURCE_DIR};KEEL_E2E_ORDERS=500;KEEL_E2E_CONCURRENCY=8")
endforeach()

# Every cmocka test binary, under valgrind itself.
file(GLOB KEEL_MEMCHECK_UNIT CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/unit/test_*.c)
foreach(src ${KEEL_MEMCHECK_UNIT})
  get_filename_component(name ${src} NAME_WE)
  if(NOT TARGET ${name})
    continue()
  endif()
  add_test(NAME memcheck.unit.${name} CONFIGURATIONS memcheck
    COMMAND ${KEEL_VALGRIND} --tool=memcheck --error-exitcode=99 --leak-check=full
            --errors-for-leak-kinds=definite --show-leak-kinds=definite --track-fds=no
            --num-callers=30 --child-silent-after-fork=yes
            --suppressions=${KEEL_MEMCHECK_SUPP}
            --log-file=${KEEL_MEMCHECK_DIR}/unit.${name}.%p.log
            $<TARGET_FILE:${name}>)
  set_tests_properties(memcheck.unit.${name} PROPERTIES LABELS memcheck TIMEOUT 1200
    ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout")
endforeach()
file(MAKE_DIRECTORY ${KEEL_MEMCHECK_DIR})
