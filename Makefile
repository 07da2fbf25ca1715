# arshim — build, test, demo, install.
CARGO   ?= cargo
PREFIX  ?= /usr/local
DESTDIR ?=
RELEASE := target/release

.PHONY: all build lint test demo bench install clean

all: build

# Release build of both deliverables into target/release/:
# the companion `arshim`, the preload library `libarshim.so` and the core it
# loads where it has work, `libarshim_core.so`.
build:
	$(CARGO) build --release --workspace

# Every test: the shim's unit tests, the companion's, and the integration
# tests that preload $(RELEASE)/libarshim.so into real host programs.
# The cdylib must exist before the integration tests run (cargo does not
# build it for them), hence the dependency on `build`.
test: build lint
	$(CARGO) test --release --workspace --no-fail-fast

# rustfmt's check, then clippy over every crate and target, warnings as
# errors (release profile, so that it shares the build's dependencies).
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --workspace --all-targets -- -D warnings

# The demo linker without and with the shim: who ran ar and what the linker
# held meanwhile, then `arshim bench` on it (table + target/bench-demo.svg).
demo: build
	bash examples/demo.sh
	bash examples/bench-demo.sh

# The four measurements of README, "Performance" (load cost, hooked calls
# when off, the conversion path, the demo linker end to end) in one table,
# also written to benches/RESULTS.md. BENCH_QUICK=1 for a smaller run
# (1 GiB, fewer iterations).
bench: build
	bash benches/run.sh

install: build
	install -Dm755 $(RELEASE)/arshim $(DESTDIR)$(PREFIX)/bin/arshim
	install -Dm755 $(RELEASE)/libarshim.so $(DESTDIR)$(PREFIX)/lib/arshim/libarshim.so
	install -Dm755 $(RELEASE)/libarshim_core.so $(DESTDIR)$(PREFIX)/lib/arshim/libarshim_core.so
	install -Dm755 $(RELEASE)/arshim-reap $(DESTDIR)$(PREFIX)/lib/arshim/arshim-reap

clean:
	$(CARGO) clean
