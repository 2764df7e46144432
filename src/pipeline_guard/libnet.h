/* pipeline_guard/libnet.h - found instead of the system's by every file of the pipeline library
 * (src/meson.build): the pipeline has no libnet dependency.  I/O belongs above it. */
#error "a pipeline file (src/meson.build: pipeline_src) includes <libnet.h>: the pipeline does no I/O; move the code above it"
