# arshim — build, test, demo, install.
CARGO   ?= cargo
PREFIX  ?= /usr/local
DESTDIR ?=
RELEASE := target/release

.PHONY: all build test demo install clean

all: build

# Release build of both deliverables into target/release/:
# the companion `arshim` and the preload library `libarshim.so`.
build:
	$(CARGO) build --release --workspace

# Every test: the shim's unit tests, the companion's, and the integration
# tests that preload $(RELEASE)/libarshim.so into real host programs.
# The cdylib must exist before the integration tests run (cargo does not
# build it for them), hence the dependency on `build`.
test: build
	$(CARGO) test --release --workspace --no-fail-fast

demo: build
	bash examples/demo.sh

install: build
	install -Dm755 $(RELEASE)/arshim $(DESTDIR)$(PREFIX)/bin/arshim
	install -Dm755 $(RELEASE)/libarshim.so $(DESTDIR)$(PREFIX)/lib/arshim/libarshim.so

clean:
	$(CARGO) clean
