# agora_embed_assets(TARGET NAME URL FILE [URL FILE ...])
#
# Compiles files into TARGET as a table of web assets:
#   const struct asset NAME[];  const size_t NAME_count;
# (struct asset from common/assets.h), each served at URL. The table is
# regenerated whenever one of the files changes, so the daemons need no files
# of their own at run time.
set(AGORA_EMBED_SCRIPT ${CMAKE_CURRENT_LIST_DIR}/embed_files.cmake)

function(agora_embed_assets target name)
  set(pairs ${ARGN})
  set(depends)
  set(spec)
  list(LENGTH pairs n)
  math(EXPR last "${n} - 1")
  foreach(i RANGE 0 ${last} 2)
    math(EXPR j "${i} + 1")
    list(GET pairs ${i} url)
    list(GET pairs ${j} file)
    get_filename_component(file ${file} ABSOLUTE)
    list(APPEND depends ${file})
    list(APPEND spec "${url}=${file}")
  endforeach()
  set(out ${CMAKE_CURRENT_BINARY_DIR}/${name}.c)
  string(REPLACE ";" "|" spec_arg "${spec}")
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DOUT=${out} -DNAME=${name} "-DSPEC=${spec_arg}"
            -P ${AGORA_EMBED_SCRIPT}
    DEPENDS ${depends} ${AGORA_EMBED_SCRIPT}
    COMMENT "Embedding ${name}"
    VERBATIM)
  target_sources(${target} PRIVATE ${out})
endfunction()
