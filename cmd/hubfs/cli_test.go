package main

import (
	"bytes"
	"testing"
)

// runCLI calls the CLI in-process and returns its stdout, stderr and error.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	app := newApp()
	app.Writer, app.ErrWriter = &out, &errOut
	err = app.Run(append([]string{"hubfs"}, args...))
	return out.String(), errOut.String(), err
}
