# frugal_library(NAME DEPS...) builds every .cpp under the calling folder into libfrugal_NAME, linked to DEPS.
# A stage with no sources yet is an interface library, so the link graph stays the same while it grows.
function(frugal_library name)
    file(GLOB_RECURSE sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cpp)
    if(sources)
        add_library(frugal_${name} STATIC ${sources})
        target_include_directories(frugal_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/include)
        target_link_libraries(frugal_${name} PUBLIC ${ARGN})
    else()
        add_library(frugal_${name} INTERFACE)
        target_include_directories(frugal_${name} INTERFACE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/include)
        target_link_libraries(frugal_${name} INTERFACE ${ARGN})
    endif()
endfunction()
