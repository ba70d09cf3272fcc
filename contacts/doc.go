// Package contacts is the address book: a plain text file that names public
// keys, so a person can write to "alice" instead of a 59-character key.
//
// The file ($XDG_CONFIG_HOME/hubfs/contacts) holds one contact a line, a
// name and a key separated by white space; blank lines and lines starting
// with '#' are comments, and a '#' after the key starts a comment too:
//
//	# friends
//	alice  bbaareia...   # from her card
//	bob    bbaareib...
//
// A name is 1 to 64 bytes of ASCII letters, digits and . _ - + @, not
// starting with '.' or '-' (so it is a safe file name in outbox/ and
// contacts/, and never an option to a command), case-sensitive, and never a
// valid public key itself nor a key's address (<key>@anything, as
// `hubfs sendmail` takes it), so a name can never shadow a key: wherever
// hubfs takes "a name or a key", a string that parses as a key is that key. Names
// are unique in a file; one key may have several names, and the first one in
// file order is the key's display name.
//
// Keys are parsed with identity.ParsePublicKey and kept in their canonical
// string form whatever multibase form the file used.
//
// The package reads and writes the file and nothing else: no hub, no gRPC.
// Writers (Add, Set, Remove) take an flock on a sidecar PATH.lock so that
// concurrent `hubfs contacts` commands do not lose each other's changes, and
// replace the file whole (temporary file, fsync, rename), keeping every
// other line, comments included, as it was. Readers need no lock: they see
// the old file or the new one. A long-running reader (the mount) holds a
// File, which re-reads the file when its stat changes.
package contacts
