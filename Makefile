# opsctl: build, test, and the local test bed.
#   make demo              set up this machine, start a local test host, provision it, deploy the example app, back it up
#   make provision env=E   nginx, TLS, supervisor, node, python on environment E's hosts
#   make deploy env=E [ref=REF]  the app at REF (default: E's git_version) on E's hosts
#   make initdata env=E    load E's initdata_src with the app's initdata command
#   make test              unit + integration tests (starts its own test hosts)
#   make testbed N=3       start N local test hosts as environments/local
#   make testbed-down      stop them
#   make ping env=staging  every host of an environment answers "pong"
#   make secrets env=E     edit environment E's age-encrypted secrets in $EDITOR
#   make staging [BRANCH=B]     merge B (default: the current branch) into origin's staging, push
#   make staging-sync [YES=1]   recreate staging from origin's default branch (asks; YES=1 in CI)
#   make bench HOSTS=50    opsctl vs ansible-playbook vs pyinfra, then big inventories (bench/README.md; not run by CI)
#   make bench-inventory   only the big inventories: 10k/100k hosts, 10k chained groups (bench/inventory)
#   make install PREFIX=/usr/local   the binary, man pages and shell completions (DESTDIR for staging)
#   make dist              dist/: the binary (x86_64, glibc) and a .deb with man pages and completions

SHELL := /bin/bash
N ?= 1
env ?= local
CARGO ?= cargo
OPSCTL := target/release/opsctl
TESTBED := tests/testbed/testbed
# environments/local: every host is a web host; host1 is also its db host (PostgreSQL),
# which the others reach over the test bed's own network (--net: 10.231.0.0/24).
LOCAL_GROUPS := --group web --group db=host1 --net

# The generated docs (docs/modules.md, docs/compatibility.md), after adding a module,
# filter, test or lookup; and Ansible's names in src/compat/*.txt from the real packages.
.PHONY: docs compat-names
docs:
	OPSCTL_WRITE_DOCS=1 $(CARGO) test --lib docs_

compat-names:
	python3 src/compat/regen.py

.PHONY: install dist
# What `install` and `dist` ship: the release build unless BIN names another one.
BIN ?= $(OPSCTL)
PREFIX ?= /usr/local
DESTDIR ?=
DIST ?= dist
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)

$(OPSCTL):
	$(CARGO) build --release

install: $(BIN)
	install -Dm755 $(BIN) $(DESTDIR)$(PREFIX)/bin/opsctl
	install -d $(DESTDIR)$(PREFIX)/share/man/man1
	$(BIN) man --dir $(DESTDIR)$(PREFIX)/share/man/man1
	gzip -9nf $(DESTDIR)$(PREFIX)/share/man/man1/opsctl*.1
	install -d $(DESTDIR)$(PREFIX)/share/bash-completion/completions \
	  $(DESTDIR)$(PREFIX)/share/zsh/vendor-completions \
	  $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	$(BIN) completions bash > $(DESTDIR)$(PREFIX)/share/bash-completion/completions/opsctl
	$(BIN) completions zsh > $(DESTDIR)$(PREFIX)/share/zsh/vendor-completions/_opsctl
	$(BIN) completions fish > $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/opsctl.fish

# A Debian package of the install above (PREFIX=/usr), and the bare binary, stripped.
dist: $(BIN)
	rm -rf $(DIST)/deb && mkdir -p $(DIST)
	$(MAKE) --no-print-directory install BIN=$(BIN) DESTDIR=$(abspath $(DIST))/deb PREFIX=/usr
	strip $(DIST)/deb/usr/bin/opsctl
	install -Dm755 $(DIST)/deb/usr/bin/opsctl $(DIST)/opsctl-$(VERSION)-x86_64-linux-gnu
	install -d $(DIST)/deb/DEBIAN
	packaging/deb-control $(VERSION) $(DIST)/deb > $(DIST)/deb/DEBIAN/control
	dpkg-deb --root-owner-group -Zxz --build $(DIST)/deb $(DIST)/opsctl_$(VERSION)_amd64.deb
	rm -rf $(DIST)/deb
	@ls -l $(DIST)

.PHONY: all build deps demo test lint testbed testbed-down image ping inventory clean provision bench bench-inventory deploy initdata secrets staging staging-sync

all: build

build:
	$(CARGO) build --release

# Everything a fresh Debian 12 machine lacks (apt packages for the test bed).
deps:
	tests/testbed/install-deps.sh

image: deps
	$(TESTBED) image

# The README's first command: a local test host (its own pebble ACME server started
# inside it), provisioned, with the example app deployed.
demo: deps build image
	$(TESTBED) up --dir environments/local --hosts $(N) $(LOCAL_GROUPS)
	$(OPSCTL) ping --env local
	for i in $$(seq 1 $(N)); do $(TESTBED) exec --dir environments/local host$$i opsctl-start-pebble start; done
	$(OPSCTL) provision --env local
	$(OPSCTL) deploy --env local --git-version HEAD
	$(OPSCTL) backup --env local
	$(OPSCTL) backups --env local
	@echo
	@echo "host1 serves the app over https (certificate from pebble, whose root is at"
	@echo "https://127.0.0.1:15000/roots/0 inside the host); the host runs in its own network namespace:"
	@echo "  $(TESTBED) exec --dir environments/local host1 sh -c 'curl -sk https://127.0.0.1:15000/roots/0 >/tmp/root.pem; curl --cacert /tmp/root.pem https://host1.test/'"
	@echo "  $(OPSCTL) releases --env local"
	@echo "  $(OPSCTL) restore --env local    # back to the backup above (asks first)"
	@echo "  make testbed-down"

# Tests that need the root test bed are #[ignore]d, so a plain `cargo test` reports
# them as ignored; as root they run too. In CI a test left ignored fails the run.
ROOT_TESTS := $(if $(filter 0,$(shell id -u)),--include-ignored --skip differential_dump,)
test: deps image
	mkdir -p target; set -o pipefail; $(CARGO) test --all-targets -- $(ROOT_TESTS) 2>&1 | tee target/test.log
	@if [ -n "$$CI" ] && grep -Eq '^test result: .* [1-9][0-9]* ignored' target/test.log; then \
		echo "CI: some tests did not run (ignored):"; grep -E '\.\.\. ignored' target/test.log; exit 1; fi

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

testbed: image
	$(TESTBED) up --dir environments/local --hosts $(N) $(LOCAL_GROUPS)

testbed-down:
	$(TESTBED) down --dir environments/local

# make provision env=E [extra_opts="--check --diff"]: playbooks/provision.yml on E's hosts.
provision: build
	$(OPSCTL) provision --env $(env) $(extra_opts)

# make deploy env=E [ref=REF] [extra_opts="--force"]: playbooks/deploy.yml (docs/stack.md).
deploy: build
	$(OPSCTL) deploy --env $(env) $(if $(ref),--git-version $(ref)) $(extra_opts)

initdata: build
	$(OPSCTL) initdata --env $(env) $(extra_opts)

ping: build
	$(OPSCTL) ping --env $(env)

inventory: build
	$(OPSCTL) inventory --env $(env) --graph

# make secrets env=E: environments/E/secrets.age in $EDITOR (docs/secrets.md).
secrets: build
	$(OPSCTL) secrets edit --env $(env)

# The staging branch of the app's repository (docs/staging.md).
staging: build
	$(OPSCTL) staging add $(BRANCH) $(extra_opts)

staging-sync: build
	$(OPSCTL) staging sync $(if $(YES),--yes) $(extra_opts)

# A benchmark, not a test: CI does not run it. HOSTS (default 20) and REPEAT
# (default 1) pass through the environment; see bench/README.md.
bench: deps build image
	bench/run
	bench/inventory

# Load times of big generated inventories (REPEAT, CASES: see bench/inventory).
bench-inventory: build
	bench/inventory

clean:
	$(CARGO) clean
