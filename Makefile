# The README's two commands are `make run` and `make test`; keep them true.
GO ?= go
MNT ?= $(HOME)/hubfs

.PHONY: run test gotest interop build bench proto

build:
	$(GO) build -o hubfs ./cmd/hubfs

# Mount your mailbox at $(MNT) on the embedded hub; the identity is created on first use.
run: build
	mkdir -p $(MNT)
	./hubfs mount --daemon $(MNT)

# Everything CI runs: the Go suite with the race detector, then the JS interop test.
test: gotest interop

gotest:
	$(GO) test -race -timeout 20m ./...

# The official @textile/hub npm client against `hubfs serve` (needs node 20 and npm);
# once more against a PostgreSQL-backed hub when HUBFS_TEST_POSTGRES names a server.
interop:
	./interop/run.sh
	if [ -n "$$HUBFS_TEST_POSTGRES" ]; then HUBFS_INTEROP_STORE="$$HUBFS_TEST_POSTGRES" HUBFS_INTEROP_NO_NPM_CI=1 ./interop/run.sh; fi

bench:
	$(GO) test -run '^$$' -bench . -benchtime 200ms ./...

proto:
	$(GO) generate ./wire/pb
