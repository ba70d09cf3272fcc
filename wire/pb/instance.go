package pb

// MailboxInstance is a mailbox message as the hub's threads DB stores it and
// as ListenReply.instance carries it (protocol.md §1.3): JSON whose byte
// fields are standard base64 with padding, which is how encoding/json
// writes and reads []byte. Only inbox records have read_at. Client and
// server share this one type so the wire's field names live in one place.
type MailboxInstance struct {
	ID        string `json:"_id"`
	From      string `json:"from"`
	To        string `json:"to"`
	Body      []byte `json:"body"`
	Signature []byte `json:"signature"`
	CreatedAt int64  `json:"created_at"`
	ReadAt    *int64 `json:"read_at,omitempty"`
}
