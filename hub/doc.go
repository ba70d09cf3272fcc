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
// default, WithTimeout). Calls that can be repeated without changing the
// outcome (reads, SetupMailbox, ReadInboxMessage, deletes, GetToken) retry with
// backoff when the hub is unavailable; SendMessage never does, because the hub
// mints the message id and a blind retry could deliver twice.
//
// Bodies stay encrypted until the caller opens them: UserMessage.Open checks
// the sender's signature over the ciphertext and decrypts, and one bad message
// fails only itself, never the page it came in.
package hub
