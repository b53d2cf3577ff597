# Test entry points. `make test` is the whole suite (what CI runs); `make soak`
# and `make fuzz` are the long reliability runs described in
# docs/reliability.md.

GO       ?= go
FUZZTIME ?= 5m
SOAKTIMEOUT ?= 3h

.PHONY: test test-fast test-e2e soak fuzz compare-mariadb

test:
	./scripts/test

# The tiers, by path. test-fast is every package's own tests: no Debian
# tool is needed (a test that drives one skips without it, except under
# CI=true) and it takes a minute or two. test-e2e is the slow tier, the
# whole-binary tests of e2e/ (TestMain builds ./cmd/ssld once); it needs
# the tools scripts/test installs.
FAST = ./tlsctx/... ./sysvars/... ./sqlcmd/... ./protocol/... ./cluster/... ./watch/... ./metrics/... ./internal/... ./cmd/...

test-fast:
	$(GO) test -race -count=1 $(FAST)

test-e2e:
	$(GO) test -race -count=1 -timeout 20m ./e2e/...

# The long variants of the storm, torn-write, concurrent-reload and memory
# tests: >= 10,000 reloads under load, 5,000 torn-write reloads per writer,
# 600 rounds of 20 simultaneous reloads, 10,000 reloads for the heap check.
soak:
	$(GO) test -race -count=1 -timeout $(SOAKTIMEOUT) -v -run 'TestStorm|TestTornWrites' ./e2e/ -soak

# Each fuzz target for FUZZTIME (default 5m: FuzzListenerPackets needed about
# 3 min, 158,000 inputs, to find a COM_STMT_RESET panic from a cold cache and
# without its seed). New failing inputs land in the target's testdata/fuzz
# folder and then run with every `go test`.
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./sqlcmd/
	$(GO) test -run '^$$' -fuzz '^FuzzListenerPackets$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./protocol/

# MariaDB's FLUSH SSL and ssld's SSL_RELOAD side by side under the same
# torn-write load (starts its own mariadbd on a free loopback port).
compare-mariadb:
	$(GO) test -count=1 -timeout 10m -v -run 'TestTornCompareMariaDB|TestHostileCompareMariaDB' ./e2e/ -mariadb-compare
