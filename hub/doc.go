// Package hub is the Go client of a Textile Hub's Users API: the Go face of
// the `Users` class of @textile/hub, speaking native gRPC to our own hubd or,
// by the wire contract in protocol.md, to any Textile-compatible hub.
//
// gRPC lives here and only here. Every status a hub returns becomes one of
// this package's sentinel errors (ErrNotFound, ErrUnavailable, ...), wrapped
// with %w, so callers tell failures apart with errors.Is and never import
// grpc. Codes without a domain meaning (Unknown, Internal, DataLoss) wrap no
// sentinel: treat them as an I/O error. Code(err) names the status the hub
// answered ("NotFound", "Unavailable", ...) for logs and error reports.
//
// A Client is safe for concurrent use. Every call carries a deadline (10 s by
// default, WithTimeout), and keepalive pings close a connection that went
// silent within 25 s, so calls on it fail ErrUnavailable rather than wait.
// Calls that can be repeated without changing the outcome (reads,
// SetupMailbox, ReadInboxMessage, deletes, GetToken) retry with backoff when
// the hub is unavailable. A send retries only under an idempotency key
// (SendSealed), which our hub dedupes; SendMessage tries once. A send whose
// outcome is unknown says so (ErrUnknownOutcome). A client given its identity
// (WithIdentity) gets its user token itself and a new one when the hub
// refuses it.
//
// Messages (and InboxMessages, SentboxMessages) walk a whole box, halving a
// page the hub refuses as too large; Message fetches one by id.
//
// Bodies stay encrypted until the caller opens them: UserMessage.Open checks
// the sender's signature over the ciphertext and decrypts, and one bad message
// fails only itself, never the page it came in.
package hub
