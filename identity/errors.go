package identity

import "errors"

// Callers map these to gRPC codes and errnos, so every failure of this
// package wraps exactly one of them and callers test with errors.Is, never by
// message text.
var (
	// ErrInvalidKey: a key string, key bytes, seed or API secret is malformed,
	// of the wrong type or size, or not a usable curve point.
	ErrInvalidKey = errors.New("invalid key")

	// ErrDecrypt: a ciphertext is too short, was tampered with, or was not
	// encrypted to this key. These cases are deliberately not told apart.
	ErrDecrypt = errors.New("cannot decrypt")

	// ErrInvalidSignature: a signature is not 64 bytes. A well-formed
	// signature that does not match is reported by Verify returning false.
	ErrInvalidSignature = errors.New("invalid signature")

	// ErrBadAPISig: an API signature does not match its message and secret.
	ErrBadAPISig = errors.New("bad api signature")

	// ErrInvalidThreadID: ThreadID bytes or string the JS client would
	// reject.
	ErrInvalidThreadID = errors.New("invalid thread id")

	// ErrInsecureKeyFile: a key file that group or others can access.
	ErrInsecureKeyFile = errors.New("key file permissions are too open")
)
