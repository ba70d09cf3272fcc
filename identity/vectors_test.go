package identity

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"testing"
)

// vectors mirrors testdata/textile-vectors.json, made by the npm packages
// (see /work/shared/testdata/README.md). Only the fields we check are named.
type vectors struct {
	Schema string `json:"schema"`
	Cases  []struct {
		Index        int       `json:"index"`
		Recipient    vectorKey `json:"recipient"`
		Sender       vectorKey `json:"sender"`
		PlaintextLen int       `json:"plaintext_len"`
		Plaintext    hexBytes  `json:"plaintext_hex"`
		Ciphertext   hexBytes  `json:"ciphertext_hex"`
		Signature    hexBytes  `json:"signature_hex"`
	} `json:"cases"`
	KeyParsing []struct {
		Input     string   `json:"input"`
		Form      string   `json:"form"`
		Seed      hexBytes `json:"seed_hex"`
		Public    string   `json:"public"`
		Canonical string   `json:"canonical"`
	} `json:"key_parsing"`
	APISigs []struct {
		Key         string   `json:"key"`
		Secret      string   `json:"secret"`
		SecretBytes hexBytes `json:"secret_bytes_hex"`
		Msg         string   `json:"msg"`
		Sig         string   `json:"sig"`
		SigBytes    hexBytes `json:"sig_bytes_hex"`
	} `json:"api_sigs"`
	UserAuth []struct {
		Input struct {
			Secret string `json:"secret"`
			Date   string `json:"date"`
		} `json:"input"`
		Output struct {
			Sig string `json:"sig"`
			Msg string `json:"msg"`
		} `json:"output"`
	} `json:"user_auth"`
	ThreadIDs []struct {
		Bytes   hexBytes `json:"bytes_hex"`
		String  string   `json:"string"`
		Variant string   `json:"variant"`
	} `json:"thread_ids"`
	Negative []negativeVector `json:"negative"`
}

type vectorKey struct {
	Private      string   `json:"private"`
	Public       string   `json:"public"`
	Seed         hexBytes `json:"seed_hex"`
	PrivateKey   hexBytes `json:"private_key_hex"`
	PublicKey    hexBytes `json:"public_key_hex"`
	PrivateProto hexBytes `json:"private_proto_hex"`
	PublicProto  hexBytes `json:"public_proto_hex"`
	CurvePrivate hexBytes `json:"curve25519_private_hex"`
	CurvePublic  hexBytes `json:"curve25519_public_hex"`
}

type negativeVector struct {
	Kind             string   `json:"kind"`
	Why              string   `json:"why"`
	RecipientPrivate string   `json:"recipient_private"`
	Ciphertext       hexBytes `json:"ciphertext_hex"`
	Public           string   `json:"public"`
	Data             hexBytes `json:"data_hex"`
	Signature        hexBytes `json:"signature_hex"`
	Secret           string   `json:"secret"`
	Msg              string   `json:"msg"`
	Sig              string   `json:"sig"`
	Bytes            hexBytes `json:"bytes_hex"`
}

type hexBytes []byte

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	d, err := hex.DecodeString(s)
	*h = d
	return err
}

func loadVectors(tb testing.TB) *vectors {
	tb.Helper()
	b, err := os.ReadFile("testdata/textile-vectors.json")
	if err != nil {
		tb.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(b, &v); err != nil {
		tb.Fatal(err)
	}
	if v.Schema != "hubfs-conformance-vectors/1" {
		tb.Fatalf("schema %q: the tests below were written for hubfs-conformance-vectors/1", v.Schema)
	}
	// Guard against a truncated or emptied file silently passing.
	if len(v.Cases) == 0 || len(v.KeyParsing) == 0 || len(v.APISigs) == 0 || len(v.ThreadIDs) == 0 || len(v.Negative) == 0 {
		tb.Fatal("vectors file has an empty section")
	}
	return &v
}

func TestVectorCases(t *testing.T) {
	v := loadVectors(t)
	for _, c := range v.Cases {
		recipient := checkVectorKey(t, c.Index, "recipient", c.Recipient)
		sender := checkVectorKey(t, c.Index, "sender", c.Sender)
		if recipient == nil || sender == nil {
			continue
		}
		if len(c.Plaintext) != c.PlaintextLen || len(c.Ciphertext) != c.PlaintextLen+Overhead {
			t.Errorf("case %d: plaintext %d, ciphertext %d bytes: overhead is not %d", c.Index, len(c.Plaintext), len(c.Ciphertext), Overhead)
		}
		got, err := recipient.Decrypt(c.Ciphertext)
		if err != nil {
			t.Errorf("case %d: decrypt: %v", c.Index, err)
		} else if !bytes.Equal(got, c.Plaintext) {
			t.Errorf("case %d: decrypted %x, want %x", c.Index, got, c.Plaintext)
		}
		if _, err := sender.Decrypt(c.Ciphertext); !errors.Is(err, ErrDecrypt) {
			t.Errorf("case %d: sender decrypted the recipient's copy: %v", c.Index, err)
		}
		ok, err := sender.Public().Verify(c.Ciphertext, c.Signature)
		if err != nil || !ok {
			t.Errorf("case %d: verify = %v, %v", c.Index, ok, err)
		}
		// ed25519 is deterministic, so Go must produce JS's exact signature.
		sig, err := sender.Sign(c.Ciphertext)
		if err != nil || !bytes.Equal(sig, c.Signature) {
			t.Errorf("case %d: sign = %x, %v, want %x", c.Index, sig, err, c.Signature)
		}
	}
}

// checkVectorKey parses both strings of one JS key pair and compares every
// byte form; it returns nil after reporting a failure.
func checkVectorKey(t *testing.T, index int, role string, vk vectorKey) *PrivateKey {
	t.Helper()
	k, err := ParsePrivateKey(vk.Private)
	if err != nil {
		t.Errorf("case %d %s: parse private: %v", index, role, err)
		return nil
	}
	pk, err := ParsePublicKey(vk.Public)
	if err != nil {
		t.Errorf("case %d %s: parse public: %v", index, role, err)
		return nil
	}
	fromSeed, err := PrivateKeyFromSeed(vk.Seed)
	if err != nil {
		t.Errorf("case %d %s: from seed: %v", index, role, err)
		return nil
	}
	checks := []struct {
		what      string
		got, want any
	}{
		{"private String", k.String(), vk.Private},
		{"public String", pk.String(), vk.Public},
		{"derived public String", k.Public().String(), vk.Public},
		{"from-seed String", fromSeed.String(), vk.Private},
		{"Seed", hex.EncodeToString(k.Seed()), hex.EncodeToString(vk.Seed)},
		{"PrivKey", hex.EncodeToString(k.PrivKey()), hex.EncodeToString(vk.PrivateKey)},
		{"private PubKey", hex.EncodeToString(k.PubKey()), hex.EncodeToString(vk.PublicKey)},
		{"public PubKey", hex.EncodeToString(pk.PubKey()), hex.EncodeToString(vk.PublicKey)},
		{"private Bytes", hex.EncodeToString(k.Bytes()), hex.EncodeToString(vk.PrivateProto)},
		{"public Bytes", hex.EncodeToString(pk.Bytes()), hex.EncodeToString(vk.PublicProto)},
		{"X25519 private", hex.EncodeToString(k.x25519[:]), hex.EncodeToString(vk.CurvePrivate)},
		{"X25519 public", hex.EncodeToString(pk.x25519[:]), hex.EncodeToString(vk.CurvePublic)},
		{"Equal", pk.Equal(k.Public()), true},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("case %d %s: %s = %v, want %v", index, role, c.what, c.got, c.want)
		}
	}
	return k
}

func TestVectorLegacyKeys(t *testing.T) {
	v := loadVectors(t)
	for i, kp := range v.KeyParsing {
		k, err := ParsePrivateKey(kp.Input)
		if err != nil {
			t.Errorf("key_parsing[%d] (%s): %v", i, kp.Form, err)
			continue
		}
		if !bytes.Equal(k.Seed(), kp.Seed) {
			t.Errorf("key_parsing[%d]: seed %x, want %x", i, k.Seed(), kp.Seed)
		}
		if got := k.Public().String(); got != kp.Public {
			t.Errorf("key_parsing[%d]: public %s, want %s", i, got, kp.Public)
		}
		if got := k.String(); got != kp.Canonical {
			t.Errorf("key_parsing[%d]: re-encoded %s, want canonical %s", i, got, kp.Canonical)
		}
	}
}

func TestVectorAPISigs(t *testing.T) {
	v := loadVectors(t)
	for i, a := range v.APISigs {
		got, err := APISig(a.Secret, a.Msg)
		if err != nil || got != a.Sig {
			t.Errorf("api_sigs[%d]: APISig = %q, %v, want %q", i, got, err, a.Sig)
		}
		if err := VerifyAPISig(a.Secret, a.Msg, a.Sig); err != nil {
			t.Errorf("api_sigs[%d]: VerifyAPISig: %v", i, err)
		}
		mac, err := apiMAC(a.Secret, a.Msg)
		if err != nil || !bytes.Equal(mac, a.SigBytes) {
			t.Errorf("api_sigs[%d]: mac %x, want %x", i, mac, a.SigBytes)
		}
	}
	for i, u := range v.UserAuth {
		got, err := APISig(u.Input.Secret, u.Input.Date)
		if err != nil || got != u.Output.Sig || u.Output.Msg != u.Input.Date {
			t.Errorf("user_auth[%d]: APISig = %q, %v, want %q", i, got, err, u.Output.Sig)
		}
	}
}

func TestVectorThreadIDs(t *testing.T) {
	v := loadVectors(t)
	variants := map[string]uint64{"Raw": VariantRaw, "AccessControlled": VariantAccessControlled}
	for i, tv := range v.ThreadIDs {
		id, err := ThreadIDFromBytes(tv.Bytes)
		if err != nil {
			t.Errorf("thread_ids[%d]: from bytes: %v", i, err)
			continue
		}
		if id.String() != tv.String {
			t.Errorf("thread_ids[%d]: String = %s, want %s", i, id.String(), tv.String)
		}
		parsed, err := ParseThreadID(tv.String)
		if err != nil || parsed != id {
			t.Errorf("thread_ids[%d]: parse = %v, %v, want %v", i, parsed, err, id)
		}
		if want, ok := variants[tv.Variant]; !ok || id.Variant() != want {
			t.Errorf("thread_ids[%d]: variant %#x, vector says %s", i, id.Variant(), tv.Variant)
		}
	}
}

func TestVectorNegative(t *testing.T) {
	v := loadVectors(t)
	kinds := map[string]int{}
	for i, n := range v.Negative {
		kinds[n.Kind]++
		name := n.Kind + ": " + n.Why
		switch n.Kind {
		case "decrypt":
			k, err := ParsePrivateKey(n.RecipientPrivate)
			if err != nil {
				t.Errorf("negative[%d] %s: parse key: %v", i, name, err)
				continue
			}
			if pt, err := k.Decrypt(n.Ciphertext); !errors.Is(err, ErrDecrypt) {
				t.Errorf("negative[%d] %s: Decrypt = %x, %v, want ErrDecrypt", i, name, pt, err)
			}
		case "verify":
			pk, err := ParsePublicKey(n.Public)
			if err != nil {
				t.Errorf("negative[%d] %s: parse key: %v", i, name, err)
				continue
			}
			if ok, err := pk.Verify(n.Data, n.Signature); ok || err != nil {
				t.Errorf("negative[%d] %s: Verify = %v, %v, want false, nil", i, name, ok, err)
			}
		case "api_sig":
			if err := VerifyAPISig(n.Secret, n.Msg, n.Sig); !errors.Is(err, ErrBadAPISig) {
				t.Errorf("negative[%d] %s: VerifyAPISig = %v, want ErrBadAPISig", i, name, err)
			}
		case "thread_id":
			if id, err := ThreadIDFromBytes(n.Bytes); !errors.Is(err, ErrInvalidThreadID) {
				t.Errorf("negative[%d] %s: ThreadIDFromBytes = %v, %v, want ErrInvalidThreadID", i, name, id, err)
			}
			s := encodeMultibase(n.Bytes)
			if id, err := ParseThreadID(s); !errors.Is(err, ErrInvalidThreadID) {
				t.Errorf("negative[%d] %s: ParseThreadID = %v, %v, want ErrInvalidThreadID", i, name, id, err)
			}
		default:
			// A new kind in a regenerated file must get a check here, not
			// pass unnoticed.
			t.Errorf("negative[%d]: unknown kind %q", i, n.Kind)
		}
	}
	t.Logf("negative vectors by kind: %v", kinds)
}
