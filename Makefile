# pg_pulse: PGXS build of the C++17 extension.
#   make && make install      build and install into the Postgres found by PG_CONFIG
#   make installcheck         pg_regress (sql/ + expected/) against a running server
#   bash test/run_all.sh      every suite (unit, regress, pgTAP, integration) on a private cluster
EXTENSION = pg_pulse
MODULE_big = pg_pulse
EXTVERSION := $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" pg_pulse.control)
# The install script is assembled from one part per subsystem (sql/ext/parts/NN_name.sql). Every
# older release gets a direct upgrade script to this one (sql/ext/upgrade/assemble.sh): the
# hand-written .pre.sql of each step from it, this version's code made re-runnable
# (sql/ext/upgrade/code.py: functions, aggregates and views as CREATE OR REPLACE, function
# grants), and each step's .post.sql.
OLD_RELEASES = 0.1.0 0.2.0
DATA_built = sql/ext/pg_pulse--$(EXTVERSION).sql $(foreach v,$(OLD_RELEASES),sql/ext/pg_pulse--$(v)--$(EXTVERSION).sql)
EXTRA_CLEAN = $(DATA_built)
DOCS =

CORE_SRCS = $(wildcard src/core/*.cc)
PG_SRCS = $(wildcard src/pg/*.cc src/enrich/*.cc src/ingest/*.cc src/kafka/*.cc src/views/*.cc src/analytics/*.cc)
OBJS = $(CORE_SRCS:.cc=.o) $(PG_SRCS:.cc=.o)

REGRESS = $(sort $(basename $(notdir $(wildcard sql/*.sql))))
REGRESS_OPTS =

PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config
# -Bsymbolic-functions: pg_pulse's own calls bind to its own definitions, among them its
# operator new (src/pg/faults.cc), which libstdc++ (already loaded by postgres through ICU)
# would otherwise shadow.
SHLIB_LINK += -lsimdjson -lrdkafka -lavro -lmaxminddb -lre2 -lyaml-cpp -lstdc++ -Wl,-Bsymbolic-functions

# No LLVM bitcode for C++ sources (PGXS would need clang to emit it).
override with_llvm = no

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

PG_INCLUDES = -isystem $(shell $(PG_CONFIG) --includedir-server)
# The warning and language flags are shared with CMakeLists.txt (the unit tests) and clangd:
# compile_flags.txt, one per line.
# (every object depends on pg_pulse.control: PULSE_VERSION is its default_version)
CXXFLAGS_PULSE = $(shell cat compile_flags.txt) -O2 -g -fPIC -DPULSE_VERSION='"$(EXTVERSION)"'

# src/core never sees Postgres headers; everything else gets them.
src/core/%.o: src/core/%.cc $(wildcard src/core/*.h) compile_flags.txt pg_pulse.control
	$(CXX) $(CXXFLAGS_PULSE) -c -o $@ $<

src/%.o: src/%.cc $(wildcard src/*/*.h) compile_flags.txt pg_pulse.control
	$(CXX) $(CXXFLAGS_PULSE) $(PG_INCLUDES) -c -o $@ $<

sql/ext/pg_pulse--$(EXTVERSION).sql: $(sort $(wildcard sql/ext/parts/*.sql))
	cat $^ > $@

sql/ext/pg_pulse--%--$(EXTVERSION).sql: sql/ext/pg_pulse--$(EXTVERSION).sql $(wildcard sql/ext/upgrade/*.sql) sql/ext/upgrade/code.py sql/ext/upgrade/assemble.sh
	bash sql/ext/upgrade/assemble.sh $* $(EXTVERSION) < sql/ext/pg_pulse--$(EXTVERSION).sql > $@

print-regress:
	@echo $(REGRESS)

print-version:
	@echo $(EXTVERSION)

.PHONY: print-regress print-version
