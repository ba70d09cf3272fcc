// Package identity holds hubfs identities: ed25519 keys in the exact byte and
// string forms of the npm package @textile/crypto 4.2.1, the API signatures
// of @textile/security, and the ThreadID form of @textile/threads-id.
//
// Everything here must interoperate with the JavaScript Textile client and
// with the real hub, so the formats are not ours to choose: a key string is
// multibase base32 of a libp2p crypto protobuf, a message body is
// nonce(24) || ephemeral X25519 key(32) || nacl box, and a signature is a
// plain ed25519 signature over the ciphertext. protocol.md §3.2, §1.4 and §4
// are the specification; testdata/textile-vectors.json, made by the npm
// packages themselves, is the referee.
//
// Where the JavaScript code is lax we are stricter when the laxity can only
// come from a corrupted or hostile input, never from something JavaScript
// itself produces:
//   - a key protobuf must be well formed and its Type must be Ed25519 (JS
//     ignores Type; a key of another type cannot have come from a Textile
//     client, and reading its bytes as ed25519 would give a key nobody holds);
//   - a public key's Data must be exactly 32 bytes (JS keeps the first 32);
//   - a public key must be a point on the curve outside the small-order
//     subgroup (JS only finds out when it encrypts), because encrypting to a
//     small-order point yields a shared secret anyone can compute.
//
// Parsing still accepts every multibase prefix and the legacy 96-byte private
// key form (seed||pub||pub), as JS does; only the seed counts.
//
// The package imports nothing else of hubfs, because both the client and the
// server depend on it. Nothing in it panics on bad input: keys and
// ciphertexts arrive from the network and from files users edit.
package identity
