/* pipeline_guard/pcap/pcap.h - found instead of the system's by every file of the pipeline library
 * (src/meson.build): the pipeline has no libpcap dependency.  I/O belongs above it. */
#error "a pipeline file (src/meson.build: pipeline_src) includes <pcap/pcap.h>: the pipeline does no I/O; move the code above it"
