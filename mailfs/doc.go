// Package mailfs is the hubfs node tree: it translates syscalls on a mounted
// mailbox into calls on a Mailbox (the cache in front of the hub client) and
// owns no remote state itself.
//
// The tree is a contract (issue 5, docs/semantics.md):
//
//	inbox/<id>  unread/<id>  sentbox/<id>   one read-only file per message
//	outbox/<public key or contact name>     write to send, close to deliver
//	contacts/<name>                         the address book: the key, read-only
//	queued/<local id>                       messages waiting for the hub; rm cancels
//	threads/<name>/{id,info.json}           mkdir/rmdir create and delete threads
//	.hubfs/{identity,status,usage,errors}   control files
//	.hubfs/events                           one JSON line per mailbox event, blocking
//	Maildir/{new,cur,tmp}, Maildir/.Sent/   the mailbox as Maildir++ for mail clients
//
// Only the skeleton is persistent; messages and threads are dynamic inodes
// whose numbers are derived from their ids, so memory follows what the
// kernel holds, not the size of the mailbox. Kernel notifications go out from
// one goroutine (notifier.go) that holds no filesystem lock, fed by the
// cache's change callback: local operations, listing refreshes and the hub's
// watch events alike, each change once. The same callback feeds
// .hubfs/events. While the watch is up the kernel also keeps the box
// listings (FOPEN_CACHE_DIR), since every change reaches it as an
// invalidation.
package mailfs
