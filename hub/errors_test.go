package hub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
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
