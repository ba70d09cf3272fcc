package hub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hubfs/hubfs/wire"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		code codes.Code
		kind callKind
		want error // nil: no sentinel
	}{
		{codes.NotFound, plainCall, ErrNotFound},
		{codes.AlreadyExists, plainCall, ErrExists},
		{codes.PermissionDenied, plainCall, ErrPermission},
		{codes.Unauthenticated, plainCall, ErrUnauthenticated},
		{codes.InvalidArgument, plainCall, ErrInvalid},
		{codes.OutOfRange, plainCall, ErrInvalid},
		{codes.FailedPrecondition, plainCall, ErrInvalid},
		{codes.FailedPrecondition, mailboxCall, ErrNoMailbox},
		{codes.Unavailable, plainCall, ErrUnavailable},
		{codes.ResourceExhausted, plainCall, ErrTooLarge},
		{codes.Unimplemented, plainCall, errors.ErrUnsupported},
		{codes.Canceled, plainCall, context.Canceled},
		{codes.DeadlineExceeded, plainCall, context.DeadlineExceeded},
		{codes.Unknown, plainCall, nil},
		{codes.Internal, plainCall, nil},
		{codes.DataLoss, plainCall, nil},
	} {
		t.Run(fmt.Sprintf("%v/%d", tc.code, tc.kind), func(t *testing.T) {
			err := classify("op", tc.kind, status.Error(tc.code, "detail"))
			if err == nil {
				t.Fatal("nil")
			}
			all := []error{ErrNotFound, ErrExists, ErrPermission, ErrUnauthenticated, ErrInvalid, ErrUnavailable,
				ErrTooLarge, ErrNoMailbox, ErrBadSignature, ErrDecrypt, errors.ErrUnsupported, context.Canceled, context.DeadlineExceeded}
			for _, s := range all {
				if errors.Is(err, s) != (s == tc.want) {
					t.Errorf("%v: errors.Is(%v) = %v", err, s, !(s == tc.want))
				}
			}
			if got := err.Error(); got != "op: "+msgOf(tc.want, tc.code) {
				t.Errorf("message %q, want it to name the operation, the meaning and the detail", got)
			}
			if got := Code(fmt.Errorf("wrapped: %w", err)); got != tc.code.String() {
				t.Errorf("Code = %q, want %q", got, tc.code.String())
			}
		})
	}
	if classify("op", plainCall, nil) != nil {
		t.Error("nil error classified")
	}
	if err := classify("op", plainCall, io.EOF); !errors.Is(err, ErrUnavailable) {
		t.Errorf("EOF: %v", err)
	}
	if err := classify("op", plainCall, context.Canceled); !errors.Is(err, context.Canceled) || Code(err) != "" {
		t.Errorf("a context error: %v, code %q", err, Code(err))
	}
	for _, err := range []error{nil, io.EOF, classify("op", plainCall, io.EOF), invalidf("bad"), ErrNotFound} {
		if got := Code(err); got != "" {
			t.Errorf("Code(%v) = %q, want \"\" for an error without a hub status", err, got)
		}
	}
}

// msgOf is how a classified error reads after its operation.
func msgOf(sentinel error, code codes.Code) string {
	if sentinel == nil {
		return fmt.Sprintf("hub error (%s): detail", code)
	}
	return sentinel.Error() + ": detail"
}

func TestParseAddr(t *testing.T) {
	for _, tc := range []struct {
		in       string
		target   string
		loopback bool
		bad      bool
	}{
		{in: "127.0.0.1:3006", target: "127.0.0.1:3006", loopback: true},
		{in: "localhost:3006", target: "localhost:3006", loopback: true},
		{in: "[::1]:3006", target: "[::1]:3006", loopback: true},
		{in: "api.hub.textile.io:443", target: "api.hub.textile.io:443"},
		{in: "api.hub.textile.io", target: "api.hub.textile.io:443"},
		{in: "10.0.0.1:3006", target: "10.0.0.1:3006"},
		{in: "", bad: true},
		{in: "https://api.hub.textile.io", bad: true},
		{in: "a/b:1", bad: true},
		{in: ":3006", bad: true},
		{in: "hub.example:", bad: true},
		{in: "hub.example:https", bad: true},
		{in: "127.0.0.1:70000", bad: true},
	} {
		target, loopback, err := parseAddr(tc.in)
		if tc.bad {
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("%q: got %q, %v; want ErrInvalid", tc.in, target, err)
			}
			continue
		}
		if err != nil || target != tc.target || loopback != tc.loopback {
			t.Errorf("%q: got %q, %v, %v; want %q, %v", tc.in, target, loopback, err, tc.target, tc.loopback)
		}
	}
}

func TestCheckID(t *testing.T) {
	for id, ok := range map[string]bool{
		"01j9zq3k8m5v7w2x4y6z8a0b1c":    true,
		"01J9ZQ3K8M5V7W2X4Y6Z8A0B1C":    true,
		"7zzzzzzzzzzzzzzzzzzzzzzzzz":    true,
		"":                              false,
		"01j9zq3k8m5v7w2x4y6z8a0b1":     false,
		"01j9zq3k8m5v7w2x4y6z8a0b1cc":   false,
		"8zzzzzzzzzzzzzzzzzzzzzzzzz":    false,
		"01j9zq3k8m5v7w2x4y6z8a0b1i":    false, // i, l, o, u are not Crockford
		"01j9zq3k8m5v7w2x4y6z8a0b/c":    false,
		"01j9zq3k8m5v7w2x4y6z8a0b\x00c": false,
	} {
		if err := checkID(id); (err == nil) != ok {
			t.Errorf("%q: %v", id, err)
		}
	}
}

func TestBackoffDelay(t *testing.T) {
	for attempt := range 70 {
		d := backoffDelay(retryBase, attempt, time.Second)
		if d <= 0 || d > 1200*time.Millisecond {
			t.Fatalf("attempt %d: %v", attempt, d)
		}
	}
}

// withReason fabricates a status as our hub sends it: a code, and an
// ErrorInfo detail that says which of the code's causes this is.
func withReason(t *testing.T, code codes.Code, domain, reason string) error {
	t.Helper()
	st, err := status.New(code, "words nobody should parse").WithDetails(&errdetails.ErrorInfo{Domain: domain, Reason: reason})
	if err != nil {
		t.Fatal(err)
	}
	return st.Err()
}

// TestClassifyReasons: failures that share a code are told apart by our
// hub's ErrorInfo reason, never by text; without the detail (other hubs),
// or with a detail of another domain, the code alone decides as before.
func TestClassifyReasons(t *testing.T) {
	all := []error{ErrNotFound, ErrPermission, ErrUnauthenticated, ErrTooLarge, ErrBadAPIKey, ErrNoSpace, ErrUnknownOutcome}
	for _, tc := range []struct {
		name   string
		err    error
		want   []error // every sentinel of all that must match; the others must not
		tokens bool    // a new token may cure it
	}{
		{"bad API key", withReason(t, codes.NotFound, wire.ErrorDomain, wire.ReasonBadAPIKey), []error{ErrBadAPIKey, ErrUnauthenticated}, false},
		{"NotFound without detail", status.Error(codes.NotFound, "API key not found or is invalid"), []error{ErrNotFound}, false},
		{"NotFound, foreign detail", withReason(t, codes.NotFound, "example.com", wire.ReasonBadAPIKey), []error{ErrNotFound}, false},
		{"disk full", withReason(t, codes.ResourceExhausted, wire.ErrorDomain, wire.ReasonNoSpace), []error{ErrNoSpace}, false},
		{"ResourceExhausted without detail", status.Error(codes.ResourceExhausted, "no space left on device"), []error{ErrTooLarge}, false},
		{"ResourceExhausted, other reason", withReason(t, codes.ResourceExhausted, wire.ErrorDomain, wire.ReasonBadToken), []error{ErrTooLarge}, false},
		{"bad token", withReason(t, codes.PermissionDenied, wire.ErrorDomain, wire.ReasonBadToken), []error{ErrPermission}, true},
		{"not the owner", status.Error(codes.PermissionDenied, "Bad authorization"), []error{ErrPermission}, false},
		{"unauthenticated", status.Error(codes.Unauthenticated, "Token required"), []error{ErrUnauthenticated}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := classify("op", plainCall, tc.err)
			for _, s := range all {
				if want := slices.Contains(tc.want, s); errors.Is(err, s) != want {
					t.Errorf("%v: errors.Is(%v) = %v, want %v", err, s, !want, want)
				}
			}
			if got := tokenRefused(status.Convert(tc.err)); got != tc.tokens {
				t.Errorf("tokenRefused = %v, want %v", got, tc.tokens)
			}
		})
	}
}
