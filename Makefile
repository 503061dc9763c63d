# opsctl: build, test, and the local test bed.
#   make demo              set up this machine, start a local test host, ping it
#   make test              unit + integration tests (starts its own test hosts)
#   make testbed N=3       start N local test hosts as environments/local
#   make testbed-down      stop them
#   make ping env=staging  every host of an environment answers "pong"

SHELL := /bin/bash
N ?= 1
env ?= local
CARGO ?= cargo
OPSCTL := target/release/opsctl
TESTBED := tests/testbed/testbed

.PHONY: all build deps demo test lint testbed testbed-down image ping inventory clean

all: build

build:
	$(CARGO) build --release

# Everything a fresh Debian 12 machine lacks (apt packages for the test bed).
deps:
	tests/testbed/install-deps.sh

image: deps
	$(TESTBED) image

demo: deps build image
	$(TESTBED) up --dir environments/local --hosts $(N)
	$(OPSCTL) ping --env local
	@echo
	@echo "The test host runs in its own network namespace; try:"
	@echo "  $(OPSCTL) inventory --env local --graph"
	@echo "  $(OPSCTL) vars --env local host1"
	@echo "  make testbed-down"

test: deps image
	$(CARGO) test --all-targets

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

testbed: image
	$(TESTBED) up --dir environments/local --hosts $(N)

testbed-down:
	$(TESTBED) down --dir environments/local

ping: build
	$(OPSCTL) ping --env $(env)

inventory: build
	$(OPSCTL) inventory --env $(env) --graph

clean:
	$(CARGO) clean
