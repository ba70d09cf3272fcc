// Command gocrypto is the Go half of the JavaScript interop test
// (interop/js). It never talks to a hub: it exchanges keys, ciphertexts,
// signatures, API signatures and thread ids with @textile/crypto as JSON, so
// that each side checks what the other made.
//
//	gocrypto make [--to PUBKEY]   print Go-made vectors as JSON on stdout
//	gocrypto verify               read JS-made vectors as JSON on stdin, check them
//
// The identity package's own tests already check Go against the fixed
// vectors in identity/testdata. What only a live exchange can show is that
// fresh, randomised output of one side is accepted by the other, so both
// commands work on new random material every run.
//
// verify prints a JSON summary on stdout and exits 1 if any check failed,
// naming each failed case; usage mistakes exit 2. Plaintexts are test data
// made up by the caller, but failures still report only sizes and offsets.
package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/hubfs/hubfs/identity"
)

// fixedSeed is 00 01 … 1f, the seed of the protocol.md §4 test vector, so JS
// can rebuild the key from the seed alone and compare strings.
var fixedSeed = func() []byte {
	s := make([]byte, 32)
	for i := range s {
		s[i] = byte(i)
	}
	return s
}()

// plaintextSizes covers the empty body, one byte, a body that is not a
// multiple of any block size, and the 100 KiB message of issue 7.
var plaintextSizes = []int{0, 1, 77, 1024, 100 << 10}

// Key is one identity as both sides print it.
type Key struct {
	SeedHex string `json:"seed_hex"`
	Private string `json:"private"`
	Public  string `json:"public"`
	PubHex  string `json:"pub_hex"`
}

// Sealed is a body encrypted to To and signed by From over the ciphertext,
// exactly what Users.sendMessage puts on the wire. ToPrivate is set when the
// reader of the JSON is expected to decrypt it.
type Sealed struct {
	ToPublic      string `json:"to_public"`
	ToPrivate     string `json:"to_private,omitempty"`
	FromPublic    string `json:"from_public"`
	PlaintextHex  string `json:"plaintext_hex"`
	CiphertextHex string `json:"ciphertext_hex"`
	SignatureHex  string `json:"signature_hex"`
}

// APISig is one @textile/security createAPISig result.
type APISig struct {
	Secret string `json:"secret"`
	Msg    string `json:"msg"`
	Sig    string `json:"sig"`
}

// ThreadID is a thread id in its two forms.
type ThreadID struct {
	BytesHex string `json:"bytes_hex"`
	String   string `json:"string"`
}

// Negative is something the reader must refuse: Kind "decrypt" means
// decrypting Sealed.CiphertextHex with Sealed.ToPrivate must fail, "verify"
// means Sealed.SignatureHex must not verify under Sealed.FromPublic.
type Negative struct {
	Kind   string `json:"kind"`
	Why    string `json:"why"`
	Sealed Sealed `json:"sealed"`
}

// Vectors is the document both sides exchange. JS fills the same fields.
type Vectors struct {
	Maker       string     `json:"maker"`
	Fixed       *Fixed     `json:"fixed,omitempty"`
	Keys        []Key      `json:"keys"`
	Ciphertexts []Sealed   `json:"ciphertexts"`
	APISigs     []APISig   `json:"api_sigs"`
	ThreadIDs   []ThreadID `json:"thread_ids"`
	Negative    []Negative `json:"negative"`
}

// Fixed is the key from fixedSeed and its signature over "hello": strings
// the other side can recompute exactly, unlike randomised ciphertexts.
type Fixed struct {
	Key          Key    `json:"key"`
	SignHelloHex string `json:"sign_hello_hex"`
}

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "gocrypto: "+err.Error())
		var ue usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

const usage = "usage: gocrypto make [--to PUBKEY] | gocrypto verify < vectors.json"

func run(args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 {
		return usageError{usage}
	}
	switch args[0] {
	case "make":
		fl := flag.NewFlagSet("make", flag.ContinueOnError)
		fl.SetOutput(io.Discard)
		to := fl.String("to", "", "also encrypt to this public key string (the JS side's)")
		if err := fl.Parse(args[1:]); err != nil {
			return usageError{fmt.Sprintf("%v; %s", err, usage)}
		}
		if fl.NArg() > 0 {
			return usageError{fmt.Sprintf("make takes no arguments, got %q; %s", fl.Arg(0), usage)}
		}
		v, err := makeVectors(*to)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", " ")
		return enc.Encode(v)
	case "verify":
		if len(args) > 1 {
			return usageError{fmt.Sprintf("verify takes no arguments, got %q; %s", args[1], usage)}
		}
		var v Vectors
		dec := json.NewDecoder(io.LimitReader(stdin, 64<<20))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("read vectors from stdin: %w", err)
		}
		res := verify(&v)
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", " ")
		if err := enc.Encode(res); err != nil {
			return err
		}
		if len(res.Failures) > 0 {
			return fmt.Errorf("%d of %d checks failed, first: %s", len(res.Failures), res.Checks, res.Failures[0])
		}
		return nil
	default:
		return usageError{fmt.Sprintf("unknown command %q; %s", args[0], usage)}
	}
}

func keyOf(k *identity.PrivateKey) Key {
	return Key{
		SeedHex: hex.EncodeToString(k.Seed()),
		Private: k.String(),
		Public:  k.Public().String(),
		PubHex:  hex.EncodeToString(k.PubKey()),
	}
}

func seal(to *identity.PublicKey, from *identity.PrivateKey, plaintext []byte) (Sealed, error) {
	ct, err := to.Encrypt(plaintext)
	if err != nil {
		return Sealed{}, fmt.Errorf("encrypt %d bytes: %w", len(plaintext), err)
	}
	sig, err := from.Sign(ct)
	if err != nil {
		return Sealed{}, fmt.Errorf("sign: %w", err)
	}
	return Sealed{
		ToPublic:      to.String(),
		FromPublic:    from.Public().String(),
		PlaintextHex:  hex.EncodeToString(plaintext),
		CiphertextHex: hex.EncodeToString(ct),
		SignatureHex:  hex.EncodeToString(sig),
	}, nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	// crypto/rand.Read never fails on Linux (Go ≥1.24 crashes instead).
	rand.Read(b)
	return b
}

// multibaseBase32 is how the hub writes API secrets: 'b' + RFC 4648 base32,
// lower case, no padding.
func multibaseBase32(b []byte) string {
	return "b" + base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding).EncodeToString(b)
}

func makeVectors(toJS string) (*Vectors, error) {
	v := &Vectors{Maker: "go"}

	fixed, err := identity.PrivateKeyFromSeed(fixedSeed)
	if err != nil {
		return nil, fmt.Errorf("key from fixed seed: %w", err)
	}
	hello, err := fixed.Sign([]byte("hello"))
	if err != nil {
		return nil, err
	}
	v.Fixed = &Fixed{Key: keyOf(fixed), SignHelloHex: hex.EncodeToString(hello)}

	var keys []*identity.PrivateKey
	for range 3 {
		k, err := identity.NewPrivateKey()
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
		v.Keys = append(v.Keys, keyOf(k))
	}
	recipient, sender := keys[0], keys[1]
	for _, n := range plaintextSizes {
		s, err := seal(recipient.Public(), sender, randomBytes(n))
		if err != nil {
			return nil, err
		}
		s.ToPrivate = recipient.String()
		v.Ciphertexts = append(v.Ciphertexts, s)
	}
	if toJS != "" {
		pub, err := identity.ParsePublicKey(toJS)
		if err != nil {
			return nil, fmt.Errorf("--to: %w", err)
		}
		for _, n := range []int{0, 33, 4096} {
			s, err := seal(pub, sender, randomBytes(n))
			if err != nil {
				return nil, err
			}
			v.Ciphertexts = append(v.Ciphertexts, s)
		}
	}

	good := v.Ciphertexts[2]
	tampered := good
	ct, _ := hex.DecodeString(good.CiphertextHex)
	ct[len(ct)-1] ^= 0x01
	tampered.CiphertextHex = hex.EncodeToString(ct)
	wrongKey := good
	wrongKey.ToPrivate = keys[2].String()
	badSig := good
	sig, _ := hex.DecodeString(good.SignatureHex)
	sig[0] ^= 0x80
	badSig.SignatureHex = hex.EncodeToString(sig)
	otherSigner := good
	otherSigner.FromPublic = keys[2].Public().String()
	v.Negative = []Negative{
		{Kind: "decrypt", Why: "last ciphertext byte flipped", Sealed: tampered},
		{Kind: "decrypt", Why: "opened with a key it was not encrypted to", Sealed: wrongKey},
		{Kind: "verify", Why: "first signature byte flipped", Sealed: badSig},
		{Kind: "verify", Why: "checked against a key that did not sign", Sealed: otherSigner},
	}

	// Both date forms the hub sees: JS Date.toISOString() with milliseconds,
	// and Go's RFC 3339 without fractions.
	secret := multibaseBase32(randomBytes(24))
	future := time.Now().Add(30 * time.Minute).UTC()
	for _, msg := range []string{future.Format("2006-01-02T15:04:05.000Z07:00"), future.Format(time.RFC3339)} {
		s, err := identity.APISig(secret, msg)
		if err != nil {
			return nil, fmt.Errorf("api sig: %w", err)
		}
		v.APISigs = append(v.APISigs, APISig{Secret: secret, Msg: msg, Sig: s})
	}

	for range 2 {
		id := identity.NewThreadID()
		v.ThreadIDs = append(v.ThreadIDs, ThreadID{BytesHex: hex.EncodeToString(id.Bytes()), String: id.String()})
	}
	return v, nil
}

// Result is verify's report. Failures name the case and what went wrong.
type Result struct {
	Checks   int      `json:"checks"`
	Failures []string `json:"failures"`
}

func (r *Result) check(name string, err error) {
	r.Checks++
	if err != nil {
		r.Failures = append(r.Failures, name+": "+err.Error())
	}
}

func verify(v *Vectors) *Result {
	r := &Result{Failures: []string{}}
	if v.Maker != "js" {
		r.check("maker", fmt.Errorf("vectors were made by %q, want \"js\"", v.Maker))
	}
	if len(v.Keys) == 0 || len(v.Ciphertexts) == 0 || len(v.APISigs) == 0 || len(v.ThreadIDs) == 0 || len(v.Negative) == 0 {
		r.check("coverage", fmt.Errorf("vectors are missing a section: %d keys, %d ciphertexts, %d api sigs, %d thread ids, %d negatives",
			len(v.Keys), len(v.Ciphertexts), len(v.APISigs), len(v.ThreadIDs), len(v.Negative)))
	}
	for i, k := range v.Keys {
		r.check(fmt.Sprintf("keys[%d]", i), checkKey(k))
	}
	for i, s := range v.Ciphertexts {
		r.check(fmt.Sprintf("ciphertexts[%d] (%d-byte plaintext)", i, len(s.PlaintextHex)/2), checkSealed(s))
	}
	for i, a := range v.APISigs {
		r.check(fmt.Sprintf("api_sigs[%d] (msg %q)", i, a.Msg), checkAPISig(a))
	}
	for i, t := range v.ThreadIDs {
		r.check(fmt.Sprintf("thread_ids[%d]", i), checkThreadID(t))
	}
	for i, n := range v.Negative {
		r.check(fmt.Sprintf("negative[%d] (%s: %s)", i, n.Kind, n.Why), checkNegative(n))
	}
	return r
}

func checkKey(k Key) error {
	seed, err := hex.DecodeString(k.SeedHex)
	if err != nil {
		return fmt.Errorf("seed_hex: %w", err)
	}
	fromSeed, err := identity.PrivateKeyFromSeed(seed)
	if err != nil {
		return fmt.Errorf("PrivateKeyFromSeed: %w", err)
	}
	if got := fromSeed.String(); got != k.Private {
		return fmt.Errorf("Go private string from the seed differs from JS toString(): go %.16s…, js %.16s…", got, k.Private)
	}
	priv, err := identity.ParsePrivateKey(k.Private)
	if err != nil {
		return fmt.Errorf("ParsePrivateKey: %w", err)
	}
	if !bytes.Equal(priv.Seed(), seed) {
		return errors.New("ParsePrivateKey gives a different seed")
	}
	if got := priv.Public().String(); got != k.Public {
		return fmt.Errorf("public string: go %s, js %s", got, k.Public)
	}
	pub, err := identity.ParsePublicKey(k.Public)
	if err != nil {
		return fmt.Errorf("ParsePublicKey: %w", err)
	}
	if got := hex.EncodeToString(pub.PubKey()); got != k.PubHex {
		return fmt.Errorf("raw public key: go %s, js %s", got, k.PubHex)
	}
	if pub.String() != k.Public {
		return errors.New("ParsePublicKey(s).String() != s")
	}
	return nil
}

func decodeSealed(s Sealed) (ct, sig, plain []byte, err error) {
	if ct, err = hex.DecodeString(s.CiphertextHex); err != nil {
		return nil, nil, nil, fmt.Errorf("ciphertext_hex: %w", err)
	}
	if sig, err = hex.DecodeString(s.SignatureHex); err != nil {
		return nil, nil, nil, fmt.Errorf("signature_hex: %w", err)
	}
	if plain, err = hex.DecodeString(s.PlaintextHex); err != nil {
		return nil, nil, nil, fmt.Errorf("plaintext_hex: %w", err)
	}
	return ct, sig, plain, nil
}

func checkSealed(s Sealed) error {
	ct, sig, plain, err := decodeSealed(s)
	if err != nil {
		return err
	}
	if len(ct) != len(plain)+identity.Overhead {
		return fmt.Errorf("ciphertext is %d bytes for a %d-byte plaintext, want plaintext + %d", len(ct), len(plain), identity.Overhead)
	}
	from, err := identity.ParsePublicKey(s.FromPublic)
	if err != nil {
		return fmt.Errorf("from_public: %w", err)
	}
	ok, err := from.Verify(ct, sig)
	if err != nil {
		return fmt.Errorf("verify signature: %w", err)
	}
	if !ok {
		return errors.New("signature over the ciphertext does not verify")
	}
	priv, err := identity.ParsePrivateKey(s.ToPrivate)
	if err != nil {
		return fmt.Errorf("to_private: %w", err)
	}
	if priv.Public().String() != s.ToPublic {
		return errors.New("to_private does not belong to to_public")
	}
	got, err := priv.Decrypt(ct)
	if err != nil {
		return fmt.Errorf("decrypt: %w", err)
	}
	if !bytes.Equal(got, plain) {
		return fmt.Errorf("decrypted %d bytes that differ from the %d-byte plaintext", len(got), len(plain))
	}
	return nil
}

func checkAPISig(a APISig) error {
	got, err := identity.APISig(a.Secret, a.Msg)
	if err != nil {
		return fmt.Errorf("APISig: %w", err)
	}
	if got != a.Sig {
		return fmt.Errorf("go %s, js %s", got, a.Sig)
	}
	if err := identity.VerifyAPISig(a.Secret, a.Msg, a.Sig); err != nil {
		return fmt.Errorf("VerifyAPISig: %w", err)
	}
	return nil
}

func checkThreadID(t ThreadID) error {
	b, err := hex.DecodeString(t.BytesHex)
	if err != nil {
		return fmt.Errorf("bytes_hex: %w", err)
	}
	fromBytes, err := identity.ThreadIDFromBytes(b)
	if err != nil {
		return fmt.Errorf("ThreadIDFromBytes: %w", err)
	}
	if fromBytes.String() != t.String {
		return fmt.Errorf("string: go %s, js %s", fromBytes.String(), t.String)
	}
	parsed, err := identity.ParseThreadID(t.String)
	if err != nil {
		return fmt.Errorf("ParseThreadID: %w", err)
	}
	if !bytes.Equal(parsed.Bytes(), b) {
		return errors.New("ParseThreadID gives different bytes")
	}
	return nil
}

func checkNegative(n Negative) error {
	ct, sig, _, err := decodeSealed(n.Sealed)
	if err != nil {
		return err
	}
	switch n.Kind {
	case "decrypt":
		priv, err := identity.ParsePrivateKey(n.Sealed.ToPrivate)
		if err != nil {
			return fmt.Errorf("to_private: %w", err)
		}
		if _, err := priv.Decrypt(ct); !errors.Is(err, identity.ErrDecrypt) {
			return fmt.Errorf("decrypt returned %v, want identity.ErrDecrypt", err)
		}
	case "verify":
		from, err := identity.ParsePublicKey(n.Sealed.FromPublic)
		if err != nil {
			return fmt.Errorf("from_public: %w", err)
		}
		if ok, err := from.Verify(ct, sig); ok || err != nil {
			return fmt.Errorf("verify returned (%v, %v), want (false, nil)", ok, err)
		}
	default:
		return fmt.Errorf("unknown kind %q", n.Kind)
	}
	return nil
}
