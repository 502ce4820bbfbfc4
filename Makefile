# pg_pulse: PGXS build of the C++17 extension.
#   make && make install      build and install into the Postgres found by PG_CONFIG
#   make installcheck         pg_regress (sql/ + expected/) against a running server
#   bash test/run_all.sh      every suite (unit, regress, pgTAP, integration) on a private cluster
EXTENSION = pg_pulse
MODULE_big = pg_pulse
# The install script is assembled from one part per subsystem (sql/ext/parts/NN_name.sql).
DATA_built = sql/ext/pg_pulse--0.1.0.sql
EXTRA_CLEAN = sql/ext/pg_pulse--0.1.0.sql
DOCS =

CORE_SRCS = $(wildcard src/core/*.cc)
PG_SRCS = $(wildcard src/pg/*.cc src/ingest/*.cc src/kafka/*.cc src/views/*.cc src/analytics/*.cc)
OBJS = $(CORE_SRCS:.cc=.o) $(PG_SRCS:.cc=.o)

REGRESS = $(sort $(basename $(notdir $(wildcard sql/*.sql))))
REGRESS_OPTS =

PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config
# -Bsymbolic-functions: pg_pulse's own calls bind to its own definitions, among them its
# operator new (src/pg/faults.cc), which libstdc++ (already loaded by postgres through ICU)
# would otherwise shadow.
SHLIB_LINK += -lsimdjson -lrdkafka -lavro -lstdc++ -Wl,-Bsymbolic-functions

# No LLVM bitcode for C++ sources (PGXS would need clang to emit it).
override with_llvm = no

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

PG_INCLUDES = -isystem $(shell $(PG_CONFIG) --includedir-server)
CXXFLAGS_PULSE = -std=c++17 -O2 -g -fPIC -Wall -Wextra -Werror -Wno-missing-field-initializers \
                 -Wno-register -fno-omit-frame-pointer -Isrc -DSIMDJSON_THREADS_ENABLED=1

# src/core never sees Postgres headers; everything else gets them.
src/core/%.o: src/core/%.cc $(wildcard src/core/*.h)
	$(CXX) $(CXXFLAGS_PULSE) -c -o $@ $<

src/%.o: src/%.cc $(wildcard src/*/*.h)
	$(CXX) $(CXXFLAGS_PULSE) $(PG_INCLUDES) -c -o $@ $<

sql/ext/pg_pulse--0.1.0.sql: $(sort $(wildcard sql/ext/parts/*.sql))
	cat $^ > $@

print-regress:
	@echo $(REGRESS)

.PHONY: print-regress
