# The README shows tests/install_consumer/main.cpp in a ```cpp block; fail if they drift apart.
file(READ ${README} readme)
file(READ ${SOURCE} source)
string(FIND "${readme}" "${source}" found)
if(found EQUAL -1)
  message(FATAL_ERROR "README.md does not contain ${SOURCE} verbatim: update the README's example")
endif()
