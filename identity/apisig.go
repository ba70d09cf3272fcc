package identity

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"

	"github.com/multiformats/go-multibase"
)

// APISig is @textile/security createAPISig: the multibase base32 HMAC-SHA256
// of msg (a date string) keyed with the multibase-decoded API secret. It
// lives here because the client signs and the server checks, and both must
// agree to the byte. Any multibase prefix is accepted for the secret, as in
// JS; an empty secret is refused because anyone could sign with it.
func APISig(secret, msg string) (string, error) {
	mac, err := apiMAC(secret, msg)
	if err != nil {
		return "", err
	}
	return encodeMultibase(mac), nil
}

// VerifyAPISig checks sig against msg and secret in constant time. sig may
// use any multibase prefix, as the hub's check allows. Whether msg is a date
// in the future is the caller's policy and is not checked here.
func VerifyAPISig(secret, msg, sig string) error {
	want, err := apiMAC(secret, msg)
	if err != nil {
		return err
	}
	if len(sig) > maxKeyString {
		return fmt.Errorf("%w: signature is %d characters", ErrBadAPISig, len(sig))
	}
	_, got, err := multibase.Decode(sig)
	if err != nil {
		return fmt.Errorf("%w: not multibase: %w", ErrBadAPISig, err)
	}
	if !hmac.Equal(got, want) {
		return ErrBadAPISig
	}
	return nil
}

func apiMAC(secret, msg string) ([]byte, error) {
	if len(secret) > maxKeyString {
		return nil, fmt.Errorf("%w: api secret is %d characters", ErrInvalidKey, len(secret))
	}
	_, key, err := multibase.Decode(secret)
	if err != nil {
		return nil, fmt.Errorf("%w: api secret is not multibase: %w", ErrInvalidKey, err)
	}
	if len(key) == 0 {
		return nil, fmt.Errorf("%w: api secret holds no key bytes (empty or not a multibase secret)", ErrInvalidKey)
	}
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msg))
	return h.Sum(nil), nil
}
