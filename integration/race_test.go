//go:build race

package integration

// raceBuild: under `go test -race` the binary under test is built with the
// race detector too, so the suite also checks the mount process for races.
const raceBuild = true
