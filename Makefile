# arshim — build, test, demo, install.
CARGO   ?= cargo
PREFIX  ?= /usr/local
DESTDIR ?=
RELEASE := target/release

.PHONY: all build lint test deps demo bench install deb clean

all: build

# Two builds into target/release/ (docs/DESIGN.md, "Build"):
# - what is loaded into hosts, libarshim.so and libarshim_core.so, with the
#   release profile as Cargo.toml declares it: panic = "abort" (a panic
#   stops the host, nothing unwinds into it) and LTO;
# - the companion `arshim`, the reaper `arshim-reap` and (in `make test`)
#   every test, $(UNWIND): the test harness unwinds, and cargo builds a
#   test's dependencies with unwinding whatever the profile says, so built
#   this way `make test` reuses what `make` compiled instead of compiling
#   every dependency again (and links each test without LTO). The reaper
#   aborts on panic from its panic hook (src/reap/).
# Plain `cargo build --release --workspace` builds everything the first way.
HOSTED := -p arshim-preload -p arshim-shim
UNWIND := --config 'profile.release.panic="unwind"' --config profile.release.lto=false
# The core's registry dependencies (shim/Cargo.toml), built the second way
# too, for the core's unit tests.
CORE_DEPS := -p log -p env_filter -p env_logger
build:
	$(CARGO) build --release $(HOSTED)
	$(CARGO) build --release --workspace --exclude arshim-preload --exclude arshim-shim $(UNWIND)
	$(CARGO) build --release $(CORE_DEPS) $(UNWIND)

# Every test: the unit tests of every crate, the integration tests that
# preload $(RELEASE)/libarshim.so into real host programs and the doc tests,
# after what they need (.ci/deps) and the build (cargo does not build the
# cdylibs for the integration tests). The core's own unit tests link its
# code into a test harness; the libarshim_core.so that `build` made is not
# rebuilt. cargo compiles the tests, and .ci/test-binaries runs each test
# binary as soon as cargo has linked it, $(TEST_JOBS) at a time (they are
# independent processes, and most of their time is spent waiting for the
# hosts they run). The lint is its own target, `make lint` (.ci/run runs
# both). The core's unit tests are its only build with $(UNWIND), so
# $(UNIT_OPT) builds them without optimisation (they check logic; the
# libarshim_core.so a host loads is `build`'s, and the integration tests run
# it); so are the integration tests (Cargo.toml's override for arshim-tests).
TEST_JOBS ?= 2
UNIT_OPT := --config profile.release.package.arshim-shim.opt-level=0
test:
	bash .ci/deps ensure
	$(MAKE) build
	CARGO=$(CARGO) python3 .ci/test-binaries $(TEST_JOBS) --release --workspace --exclude arshim-preload $(UNWIND) $(UNIT_OPT)

# What the tests need besides Rust (.ci/deps holds the one list): as root with
# apt-get, install what is missing; elsewhere, one line naming it.
deps:
	bash .ci/deps ensure

# rustfmt's check, then clippy over every crate and target, warnings as
# errors, each crate the way `build` builds it (the preload alone aborts).
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release -p arshim-preload -- -D warnings
	$(CARGO) clippy --release --workspace --exclude arshim-preload --all-targets $(UNWIND) -- -D warnings

# The demo linker without and with the shim: who ran ar and what the linker
# held meanwhile, then `arshim bench` on it (table + target/bench-demo.svg).
demo: build
	bash examples/demo.sh
	bash examples/bench-demo.sh

# The measurements of README, "Performance" (load cost, hooked calls when
# off, the conversion path, the demo linker end to end, a whole build, the
# compilers' links of benches/links.sh) in one table,
# also written to benches/RESULTS.md. BENCH_QUICK=1 for a smaller run
# (1 GiB, fewer iterations).
bench: build
	bash benches/run.sh

# What `make install` takes from the build. A file rule without
# prerequisites: cargo runs only when a file is missing, so `sudo make
# install` after `make` works where root has no cargo.
BUILT := $(RELEASE)/arshim $(RELEASE)/arshim-reap $(RELEASE)/libarshim.so $(RELEASE)/libarshim_core.so
$(BUILT):
	$(MAKE) build

# bin/arshim; lib/arshim/ the library, its core and the reaper (the companion
# finds the library in ../lib/arshim/, the library the reaper next to
# itself); the manual pages and bash, zsh and fish completions, written by
# the built companion itself.
BINDIR    = $(DESTDIR)$(PREFIX)/bin
LIBDIR    = $(DESTDIR)$(PREFIX)/lib/arshim
SHAREDIR  = $(DESTDIR)$(PREFIX)/share
install: $(BUILT)
	install -Dm755 $(RELEASE)/arshim $(BINDIR)/arshim
	install -Dm755 $(RELEASE)/libarshim.so $(LIBDIR)/libarshim.so
	install -Dm755 $(RELEASE)/libarshim_core.so $(LIBDIR)/libarshim_core.so
	install -Dm755 $(RELEASE)/arshim-reap $(LIBDIR)/arshim-reap
	install -d $(SHAREDIR)/man/man1 $(SHAREDIR)/bash-completion/completions \
	  $(SHAREDIR)/zsh/site-functions $(SHAREDIR)/fish/vendor_completions.d
	$(RELEASE)/arshim man --dir $(SHAREDIR)/man/man1 >/dev/null
	chmod 644 $(SHAREDIR)/man/man1/arshim*.1
	$(RELEASE)/arshim completions bash > $(SHAREDIR)/bash-completion/completions/arshim
	$(RELEASE)/arshim completions zsh > $(SHAREDIR)/zsh/site-functions/_arshim
	$(RELEASE)/arshim completions fish > $(SHAREDIR)/fish/vendor_completions.d/arshim.fish

# A Debian package of the installed layout (PREFIX /usr), from the build as
# it is: $(DEBDIR)/arshim_VERSION_ARCH.deb (the tree it packs: $(DEBDIR)/root).
DEBDIR  ?= target/deb
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
DEBROOT  = $(abspath $(DEBDIR))/root
deb: $(BUILT)
	rm -rf $(DEBROOT)
	$(MAKE) install PREFIX=/usr DESTDIR=$(DEBROOT)
	install -d $(DEBROOT)/DEBIAN
	ARCH=$$(dpkg --print-architecture) && \
	  sed -e 's/@VERSION@/$(VERSION)/' -e "s/@ARCH@/$$ARCH/" \
	    -e "s/@SIZE@/$$(du -sk $(DEBROOT)/usr | cut -f1)/" packaging/control.in \
	    > $(DEBROOT)/DEBIAN/control && \
	  dpkg-deb --root-owner-group --build $(DEBROOT) $(DEBDIR)/arshim_$(VERSION)_$$ARCH.deb

clean:
	$(CARGO) clean
