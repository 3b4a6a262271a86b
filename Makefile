# roomcast - build, run and test.
#
#   make run     install build dependencies, build, run on conf/roomcast.conf
#                (make run CONF=path: another file)
#   make test    install test dependencies too, then run every suite
#   make         build build/roomcastd only
#   make fuzz    replay the fuzz corpora and fuzz each parser, and the server, briefly
#   make bench   roomcastd against Node socket.io and the kernel's ceiling
#
# BUILD selects the output folder; the sanitizer build is the same tree
# compiled by clang into build/asan with ASan+UBSan (make asan-unit).

BUILD   ?= build
ifeq ($(origin CC),default)
CC      := gcc
endif
SAN     ?=
UNIT_LABEL ?= unit ($(CC))
PKG_CONFIG ?= pkg-config

# libevent_openssl and libssl: jwt_jwks_url's HTTPS client (jwks.c).
PKGS    := libevent libevent_openssl libssl libcrypto libsystemd jansson hiredis msgpack
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
           -Wmissing-prototypes -Wno-unused-parameter -fno-strict-aliasing \
           $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
LDLIBS  += $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null) -lhttp_parser

ifeq ($(SAN),1)
CFLAGS  += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=address,undefined
endif
ifeq ($(SAN),fuzz)
CFLAGS  += -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer \
           -fno-sanitize-recover=all
LDFLAGS += -fsanitize=fuzzer,address,undefined
endif

# The modules live in one folder per layer (DESIGN.md, "Parts"): codec,
# core, net, sio, cluster, daemon.  A header is included by its name, so
# every folder is on the include path; objects are named for their module.
SRC_DIRS := $(sort $(dir $(wildcard src/*/*.c src/*/*.h)))
SRC_HDR  := $(wildcard src/*/*.h)
CFLAGS   += $(addprefix -I,$(SRC_DIRS))
vpath %.c $(SRC_DIRS)

# Every module but main.c goes into one archive that the daemon, the unit
# tests and the test programs link against.
LIB_SRC := $(filter-out src/daemon/main.c,$(wildcard src/*/*.c))
LIB_OBJ := $(addprefix $(BUILD)/obj/,$(notdir $(LIB_SRC:.c=.o)))
LIB     := $(BUILD)/libroomcast.a

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
# Linked into every unit test: the failing allocator (failalloc.h).
UNIT_HELPER_SRC := tests/unit/failalloc.c

FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)
# Seconds of new fuzzing per target in make test, after the corpus replay.
FUZZ_SECONDS ?= 10

# make bench: the load generator, the Redis publisher and the ceiling
# program (tests/bench/), never part of make test.
BENCH_SRC := $(wildcard tests/bench/*.c)
BENCH_BIN := $(BENCH_SRC:tests/bench/%.c=$(BUILD)/bench/%)

TESTPROG_SRC := $(wildcard tests/programs/*.c)
TESTPROG_BIN := $(TESTPROG_SRC:tests/programs/%.c=$(BUILD)/tests/%)

.PHONY: all run test deps test-deps unit asan-unit fuzz fuzz-run integration asan-integration \
	node-deps install uninstall clean bench bench-bin FORCE

PREFIX  ?= /usr/local
.DELETE_ON_ERROR:

all: $(BUILD)/roomcastd

$(BUILD)/obj/%.o: %.c $(SRC_HDR) | $(BUILD)/obj
	$(CC) $(CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/roomcastd: $(BUILD)/obj/main.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/test_%: tests/unit/test_%.c $(UNIT_HELPER_SRC) tests/unit/failalloc.h $(LIB) | $(BUILD)/tests
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(UNIT_HELPER_SRC) $(LIB) $(LDLIBS) -lcmocka

$(BUILD)/tests/%: tests/programs/%.c $(LIB) | $(BUILD)/tests
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(LIB) | $(BUILD)/fuzz
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

$(BUILD)/bench/%: tests/bench/%.c | $(BUILD)/bench
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LDLIBS) -lm

$(BUILD)/obj $(BUILD)/tests $(BUILD)/fuzz $(BUILD)/bench:
	mkdir -p $@

deps:
	scripts/install-deps.sh

test-deps:
	scripts/install-deps.sh --test

# make run CONF=path runs another file.
CONF ?= conf/roomcast.conf

run: deps
	$(MAKE) all
	$(BUILD)/roomcastd -c $(CONF)

unit: $(UNIT_BIN)
	@tests/run-unit.sh "$(UNIT_LABEL)" $(UNIT_BIN)

asan-unit:
	$(MAKE) BUILD=build/asan CC=clang SAN=1 UNIT_LABEL="unit (clang, ASan+UBSan)" unit

# Replays each target's corpus, then fuzzes for FUZZ_SECONDS from it; new
# inputs go to a scratch folder, crashes fail the run.
fuzz-run: $(FUZZ_BIN)
	@tests/run-fuzz.sh $(FUZZ_SECONDS) $(FUZZ_BIN)

fuzz:
	$(MAKE) BUILD=build/libfuzzer CC=clang SAN=fuzz fuzz-run

tests/node_modules/.package-lock.json: tests/package.json tests/package-lock.json
	cd tests && npm ci --no-audit --no-fund --loglevel=error

node-deps: tests/node_modules/.package-lock.json

integration: all $(TESTPROG_BIN) node-deps
	@tests/run-integration.sh "integration"

# The same suites against daemons built with ASan+UBSan: any report, or a
# leak found by LeakSanitizer at the SIGTERM each file ends with, makes the
# daemon exit non-zero and the test fail.
asan-integration: node-deps
	$(MAKE) BUILD=build/asan CC=clang SAN=1 build/asan/roomcastd build/asan/tests/roomcast-echo
	@ROOMCAST_BIN=build/asan/roomcastd ROOMCAST_ECHO_BIN=build/asan/tests/roomcast-echo \
		tests/run-integration.sh "integration (ASan+UBSan daemon)"

test: test-deps
	$(MAKE) all $(TESTPROG_BIN) bench-bin
	$(MAKE) unit
	$(MAKE) asan-unit
	$(MAKE) fuzz
	$(MAKE) integration
	$(MAKE) asan-integration

bench-bin: $(BENCH_BIN)

# roomcastd against Node socket.io and the ceiling program, one table.
bench: test-deps
	$(MAKE) all bench-bin node-deps
	node tests/bench/bench.js

# Where `make install` puts things; DESTDIR is prepended to each (staging).
PREFIX     ?= /usr/local
SBINDIR    ?= $(PREFIX)/sbin
SYSCONFDIR ?= /etc
MANDIR     ?= $(PREFIX)/share/man
DOCDIR     ?= $(PREFIX)/share/doc/roomcast
UNITDIR    ?= /etc/systemd/system
LOGROTATEDIR ?= $(SYSCONFDIR)/logrotate.d
CONFDIR    := $(SYSCONFDIR)/roomcast

# The shipped unit names /usr/local/sbin and /etc/roomcast: the installed
# one names where install put the binary and the config.  The template
# roomcastd@NAME.service is the same unit on $(CONFDIR)/NAME.conf, with
# its runtime and logs directories of its own (roomcast/NAME): systemd
# removes a unit's RuntimeDirectory when it stops, and with it every unix
# socket in it.
UNIT_PATHS := -e 's|/usr/local/sbin/roomcastd|$(SBINDIR)/roomcastd|g' \
              -e 's|/etc/roomcast/|$(CONFDIR)/|g'
UNIT_TEMPLATE := -e 's|$(CONFDIR)/roomcast\.conf|$(CONFDIR)/%i.conf|g' \
                 -e 's|^Description=.*|& (%i)|' \
                 -e 's,^\(RuntimeDirectory\|LogsDirectory\)=roomcast$$,&/%i,' \
                 -e 's|/run/roomcast/|/run/roomcast/%i/|g'

# The installed binary reads $(CONFDIR)/roomcast.conf without -c: main.c,
# the one file that names that path, is compiled again for it into
# $(BUILD)/install/, and again whenever CONFDIR changes (the stamp file
# holds the last one).  The man pages are installed naming it too.
INSTALL_BIN := $(BUILD)/install/roomcastd
MAN_PATHS   := -e 's|/etc/roomcast/|$(CONFDIR)/|g'

$(BUILD)/install:
	mkdir -p $@

$(BUILD)/install/confdir: FORCE | $(BUILD)/install
	@echo '$(CONFDIR)' | cmp -s - $@ || echo '$(CONFDIR)' > $@

$(BUILD)/install/main.o: src/daemon/main.c $(SRC_HDR) $(BUILD)/install/confdir
	$(CC) $(CFLAGS) -DCONFIG_DEFAULT_PATH='"$(CONFDIR)/roomcast.conf"' -c -o $@ $<

$(INSTALL_BIN): $(BUILD)/install/main.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

FORCE:

# Every directory install writes to.  The ones it had to create (and their
# parents) are listed, without DESTDIR, in $(DIRS_MANIFEST), which
# uninstall reads to remove those left empty; it never removes a directory
# that was there before install.
INSTALL_DIRS  = $(SBINDIR) $(MANDIR)/man8 $(MANDIR)/man5 $(DOCDIR) $(UNITDIR) $(CONFDIR) \
                $(LOGROTATEDIR)
DIRS_MANIFEST = $(DOCDIR)/installed-dirs
# The links `systemctl enable` makes (in UNITDIR and in SYSCONFDIR's
# systemd/system) to the units install writes.
UNIT_LINKS    = -mindepth 2 -maxdepth 2 -type l \( -path '*.wants/*' -o -path '*.requires/*' \) \
                \( -name 'roomcastd.service' -o -name 'roomcastd@*.service' -o -name 'roomcastd*.socket' \)

install: $(INSTALL_BIN)
	@created=; for d in $(INSTALL_DIRS); do \
		while [ ! -d "$(DESTDIR)$$d" ] && [ "$$d" != / ] && [ "$$d" != . ]; do \
			created="$$created $$d"; d=$$(dirname "$$d"); \
		done; \
	done; \
	install -d $(addprefix $(DESTDIR),$(INSTALL_DIRS)) && \
	{ cat "$(DESTDIR)$(DIRS_MANIFEST)" 2>/dev/null; printf '%s\n' $$created; } | \
		sed '/^$$/d' | sort -u > "$(DESTDIR)$(DIRS_MANIFEST).new" && \
	mv "$(DESTDIR)$(DIRS_MANIFEST).new" "$(DESTDIR)$(DIRS_MANIFEST)"
	install -m 755 $(INSTALL_BIN) $(DESTDIR)$(SBINDIR)/roomcastd
	sed $(MAN_PATHS) man/roomcastd.8 > $(DESTDIR)$(MANDIR)/man8/roomcastd.8
	sed $(MAN_PATHS) man/roomcast.conf.5 > $(DESTDIR)$(MANDIR)/man5/roomcast.conf.5
	chmod 644 $(DESTDIR)$(MANDIR)/man8/roomcastd.8 $(DESTDIR)$(MANDIR)/man5/roomcast.conf.5
	install -m 644 conf/roomcast.conf $(DESTDIR)$(DOCDIR)/roomcast.conf.example
	sed $(UNIT_PATHS) systemd/roomcastd.service > $(DESTDIR)$(UNITDIR)/roomcastd.service
	sed $(UNIT_PATHS) systemd/roomcastd.service | sed $(UNIT_TEMPLATE) \
		> $(DESTDIR)$(UNITDIR)/roomcastd@.service
	install -m 644 systemd/roomcastd.socket $(DESTDIR)$(UNITDIR)/roomcastd.socket
	chmod 644 $(DESTDIR)$(UNITDIR)/roomcastd.service $(DESTDIR)$(UNITDIR)/roomcastd@.service
	install -m 644 conf/logrotate $(DESTDIR)$(LOGROTATEDIR)/roomcast
	test -e $(DESTDIR)$(CONFDIR)/roomcast.conf || \
		install -m 644 conf/installed.conf $(DESTDIR)$(CONFDIR)/roomcast.conf

# Removes what install put there and the links enabling its units; the
# config only if it is still the one install wrote; then the directories
# install created, and roomcast's own (DOCDIR, CONFDIR), if nothing else is
# in them.
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/roomcastd $(DESTDIR)$(MANDIR)/man8/roomcastd.8 \
		$(DESTDIR)$(MANDIR)/man5/roomcast.conf.5 $(DESTDIR)$(DOCDIR)/roomcast.conf.example \
		$(DESTDIR)$(UNITDIR)/roomcastd.service $(DESTDIR)$(UNITDIR)/roomcastd@.service \
		$(DESTDIR)$(UNITDIR)/roomcastd.socket $(DESTDIR)$(LOGROTATEDIR)/roomcast
	@for d in $(sort $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/systemd/system); do \
		[ -d "$$d" ] || continue; \
		find "$$d" $(UNIT_LINKS) | while read -r link; do \
			echo "uninstall: removed $$link (systemctl daemon-reload)"; \
			rm -f "$$link"; rmdir "$$(dirname "$$link")" 2>/dev/null || true; \
		done; \
	done
	@if cmp -s conf/installed.conf $(DESTDIR)$(CONFDIR)/roomcast.conf; then \
		rm -f $(DESTDIR)$(CONFDIR)/roomcast.conf; \
	elif [ -e $(DESTDIR)$(CONFDIR)/roomcast.conf ]; then \
		echo "uninstall: kept $(DESTDIR)$(CONFDIR)/roomcast.conf (changed since install)"; \
	fi
	@dirs="$(DOCDIR) $(CONFDIR) $$(cat "$(DESTDIR)$(DIRS_MANIFEST)" 2>/dev/null)"; \
	rm -f "$(DESTDIR)$(DIRS_MANIFEST)"; \
	for d in $$(printf '%s\n' $$dirs | sort -r); do rmdir "$(DESTDIR)$$d" 2>/dev/null || true; done

clean:
	rm -rf build
