package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// goVectorsAsJS makes vectors with make and relabels them, so verify's
// checks can be exercised without node. The JS test covers the real pairing.
func goVectorsAsJS(t *testing.T) *Vectors {
	t.Helper()
	var out bytes.Buffer
	if err := run([]string{"make"}, nil, &out); err != nil {
		t.Fatalf("make: %v", err)
	}
	var v Vectors
	if err := json.Unmarshal(out.Bytes(), &v); err != nil {
		t.Fatalf("make printed bad JSON: %v", err)
	}
	v.Maker = "js"
	v.Fixed = nil
	return &v
}

func verifyVectors(t *testing.T, v *Vectors) (Result, error) {
	t.Helper()
	in, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	runErr := run([]string{"verify"}, bytes.NewReader(in), &out)
	var res Result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("verify printed bad JSON: %v: %q", err, out.String())
	}
	return res, runErr
}

func TestMakeThenVerify(t *testing.T) {
	v := goVectorsAsJS(t)
	res, err := verifyVectors(t, v)
	if err != nil || len(res.Failures) > 0 {
		t.Fatalf("verify of well-formed vectors: %v %v", err, res.Failures)
	}
	if want := len(v.Keys) + len(v.Ciphertexts) + len(v.APISigs) + len(v.ThreadIDs) + len(v.Negative); res.Checks != want {
		t.Errorf("ran %d checks, want %d", res.Checks, want)
	}
}

func TestVerifyReportsEachBadCase(t *testing.T) {
	flip := func(h string, i int) string {
		b, _ := hex.DecodeString(h)
		b[i] ^= 1
		return hex.EncodeToString(b)
	}
	for _, tc := range []struct {
		name   string
		mutate func(v *Vectors)
		want   string
	}{
		{"other public key", func(v *Vectors) { v.Keys[0].Public = v.Keys[1].Public }, "keys[0]: public string"},
		{"bad seed", func(v *Vectors) { v.Keys[1].SeedHex = "00" }, "keys[1]: PrivateKeyFromSeed"},
		{"tampered ciphertext", func(v *Vectors) { v.Ciphertexts[1].CiphertextHex = flip(v.Ciphertexts[1].CiphertextHex, 60) }, "ciphertexts[1] (1-byte plaintext): signature"},
		{"wrong plaintext", func(v *Vectors) { v.Ciphertexts[2].PlaintextHex = flip(v.Ciphertexts[2].PlaintextHex, 3) }, "ciphertexts[2] (77-byte plaintext): decrypted"},
		{"wrong api sig", func(v *Vectors) { v.APISigs[0].Msg += "x" }, "api_sigs[0]"},
		{"bad thread id", func(v *Vectors) { v.ThreadIDs[0].BytesHex = "0155" }, "thread_ids[0]: ThreadIDFromBytes"},
		{"negative that succeeds", func(v *Vectors) { v.Negative[0].Sealed = v.Ciphertexts[0] }, "negative[0]"},
		{"wrong maker", func(v *Vectors) { v.Maker = "go" }, "maker"},
		{"missing section", func(v *Vectors) { v.APISigs = nil }, "coverage"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := goVectorsAsJS(t)
			tc.mutate(v)
			res, err := verifyVectors(t, v)
			if err == nil {
				t.Fatal("verify succeeded")
			}
			if len(res.Failures) != 1 || !strings.HasPrefix(res.Failures[0], tc.want) {
				t.Fatalf("failures %q, want exactly one starting %q", res.Failures, tc.want)
			}
		})
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"frob"}, {"make", "extra"}, {"make", "--bogus"}, {"verify", "x"}} {
		err := run(args, strings.NewReader(""), &bytes.Buffer{})
		var ue usageError
		if !errors.As(err, &ue) {
			t.Errorf("run(%q) = %v, want a usage error", args, err)
		}
	}
	if err := run([]string{"make", "--to", "not-a-key"}, nil, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "--to") {
		t.Errorf("make --to not-a-key: %v, want an error naming --to", err)
	}
	if err := run([]string{"verify"}, strings.NewReader("{"), &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "stdin") {
		t.Errorf("verify of broken JSON: %v, want an error naming stdin", err)
	}
}
