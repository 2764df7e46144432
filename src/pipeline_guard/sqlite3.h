/* pipeline_guard/sqlite3.h - found instead of the system's by every file of the pipeline library
 * (src/meson.build): the pipeline has no SQLite dependency.  I/O belongs above it. */
#error "a pipeline file (src/meson.build: pipeline_src) includes <sqlite3.h>: the pipeline does no I/O; move the code above it"
