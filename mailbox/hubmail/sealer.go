package hubmail

import (
	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/identity"
	"github.com/hubfs/hubfs/mailbox"
)

// Sealer is the hub's message format with the user's key: hub.Seal,
// hub.UserMessage.Open and hub.NewIdempotencyKey, their errors given the
// model's kinds.
type Sealer struct {
	key *identity.PrivateKey
}

var _ mailbox.Sealer = Sealer{}

// NewSealer seals from and opens with key.
func NewSealer(key *identity.PrivateKey) Sealer { return Sealer{key: key} }

func (s Sealer) Self() *identity.PublicKey { return s.key.Public() }

func (s Sealer) Seal(to *identity.PublicKey, body []byte) (mailbox.Sealed, error) {
	sealed, err := hub.Seal(s.key, to, body)
	return sealed, mark(err)
}

func (s Sealer) Open(m mailbox.Message) ([]byte, error) {
	um := hub.UserMessage{ID: m.ID, From: m.From, To: m.To, Body: m.Body, Signature: m.Signature, CreatedAt: m.CreatedAt, ReadAt: m.ReadAt}
	plain, err := um.Open(s.key)
	return plain, mark(err)
}

func (s Sealer) NewIdempotencyKey() string { return hub.NewIdempotencyKey() }
