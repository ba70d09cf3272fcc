package hubd

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/hubfs/hubfs/identity"
)

// jwtAlg is go-threads' name for its signing method. It is not the
// registered "EdDSA": tokens must carry this exact header to look like the
// hub's (protocol.md §3.4).
const jwtAlg = "Ed25519"

// signingMethodEd25519 is golang-jwt's EdDSA under go-threads' alg name.
type signingMethodEd25519 struct{ *jwt.SigningMethodEd25519 }

func (signingMethodEd25519) Alg() string { return jwtAlg }

func init() {
	// golang-jwt finds a token's verifier by its alg header, so the name
	// has to be registered; "Ed25519" is not a name it uses itself.
	jwt.RegisterSigningMethod(jwtAlg, func() jwt.SigningMethod { return signingMethodEd25519{jwt.SigningMethodEdDSA} })
}

// tokenIssuer issues and checks the tokens of GetToken: JWTs signed with
// the host key, sub = the user's key string, iss = the host's, no expiry
// (as go-threads). Unlike the Textile hub we verify the signature on every
// call, so a token made up by a client is worthless.
type tokenIssuer struct {
	priv   ed25519.PrivateKey
	pub    ed25519.PublicKey
	issuer string
	parser *jwt.Parser
	// verified remembers tokens already checked: a token never expires and
	// the host key does not change while the server runs, so the answer
	// cannot change, and the signature check is a fifth of a small call.
	verified *lru.Cache[string, *identity.PublicKey]
}

// verifiedTokens bounds the cache: a few hundred bytes per active user.
const verifiedTokens = 4096

func newTokenIssuer(host *identity.PrivateKey) *tokenIssuer {
	priv := ed25519.NewKeyFromSeed(host.Seed())
	issuer := host.Public().String()
	verified, _ := lru.New[string, *identity.PublicKey](verifiedTokens) // fails only for a size <= 0
	return &tokenIssuer{
		verified: verified,
		priv:     priv,
		pub:      priv.Public().(ed25519.PublicKey),
		issuer:   issuer,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwtAlg}),
			jwt.WithIssuer(issuer),
			jwt.WithIssuedAt(),
		),
	}
}

func (ti *tokenIssuer) issue(user *identity.PublicKey) (string, error) {
	claims := jwt.RegisteredClaims{
		Subject:  user.String(),
		Issuer:   ti.issuer,
		IssuedAt: jwt.NewNumericDate(time.Now()),
	}
	tok, err := jwt.NewWithClaims(signingMethodEd25519{jwt.SigningMethodEdDSA}, claims).SignedString(ti.priv)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return tok, nil
}

// verify returns the user a token was issued to, or an error if it was not
// issued by this host.
func (ti *tokenIssuer) verify(tok string) (*identity.PublicKey, error) {
	if user, ok := ti.verified.Get(tok); ok {
		return user, nil
	}
	var claims jwt.RegisteredClaims
	_, err := ti.parser.ParseWithClaims(tok, &claims, func(*jwt.Token) (any, error) { return ti.pub, nil })
	if err != nil {
		return nil, err
	}
	if claims.Subject == "" {
		return nil, errors.New("token has no subject")
	}
	user, err := identity.ParsePublicKey(claims.Subject)
	if err != nil {
		return nil, err
	}
	ti.verified.Add(tok, user)
	return user, nil
}
