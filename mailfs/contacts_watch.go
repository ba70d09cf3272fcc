package mailfs

import "time"

// contactsPoll is how often a mount looks at the contacts file on its
// own. The names are in the Maildir files' headers, so an edit changes
// their sizes; the kernel keeps those sizes for the message TTL and would
// show the old one to a stat that reaches no node until then. The file
// itself is stat'd at most once a second (contacts.File), so polling
// faster would find nothing new.
const contactsPoll = time.Second

// watchContacts reloads the contacts file every contactsPoll until stop
// is closed, and has the Maildir view drop what the kernel keeps of the
// names when the book changed. A stat a second: no reads unless it
// changed.
func (r *Root) watchContacts(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(contactsPoll)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			r.opts.Contacts.Book()
			r.maildir.checkContacts()
		}
	}
}
