package mailbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// MaxWatchedDBs bounds the thread DBs the model keeps and watches at once:
// the ones touched last. Touching another closes the watch of the oldest.
const MaxWatchedDBs = 16

// docState is the model's copy of the thread DBs it has been asked about:
// each DB's collections and the documents of each collection listed, as the
// last listing saw them with every change since (local writes, watch
// events). A copy is served for ListTTL, or WatchTTL while the DB's watch
// is up. While the model follows the hub (Follow), each DB kept is watched.
type docState struct {
	mu     sync.Mutex // guards the fields below
	dbs    map[string]*dbCopy
	order  []string        // the DBs kept, least recently touched first
	follow context.Context // set by Follow: DBs touched are watched; nil: not following
}

type dbCopy struct {
	colls   []Collection // sorted by name
	collsAt time.Time
	collsOK bool
	gen     uint64 // bumps with every change to the DB: a listing that began at another gen is not kept
	docs    map[string]*collCopy
	watch   Watch
	watchUp bool      // the watch is confirmed: it delivers every change
	stopped time.Time // when the watch stopped for good; not retried for PollInterval
}

type collCopy struct {
	byID map[string]Document
	at   time.Time
	ok   bool
}

// dbLocked returns db's copy, making it the most recently touched, and
// starts its watch if the model follows the hub. It returns the watches of
// DBs dropped from the bound, to be closed without the lock.
func (m *Model) dbLocked(db string) (*dbCopy, []Watch) {
	s := &m.docs
	if s.dbs == nil {
		s.dbs = map[string]*dbCopy{}
	}
	d, ok := s.dbs[db]
	if ok {
		if i := slices.Index(s.order, db); i >= 0 {
			s.order = append(s.order[:i], s.order[i+1:]...)
		}
	} else {
		d = &dbCopy{docs: map[string]*collCopy{}}
		s.dbs[db] = d
	}
	s.order = append(s.order, db)
	var drop []Watch
	for len(s.order) > MaxWatchedDBs {
		old := s.order[0]
		s.order = s.order[1:]
		if w := s.dbs[old].watch; w != nil {
			drop = append(drop, w)
		}
		delete(s.dbs, old)
	}
	if s.follow != nil && d.watch == nil && (d.stopped.IsZero() || m.cfg.Now().Sub(d.stopped) >= m.cfg.PollInterval) {
		m.startDocWatchLocked(s.follow, db, d)
	}
	return d, drop
}

// touch is dbLocked for callers without the lock.
func (m *Model) touch(db string) {
	m.docs.mu.Lock()
	_, drop := m.dbLocked(db)
	m.docs.mu.Unlock()
	closeAll(drop)
}

func closeAll(ws []Watch) {
	for _, w := range ws {
		w.Close()
	}
}

// startDocWatchLocked opens db's watch. Opening is a network call, so it
// runs on its own goroutine; until it is confirmed the DB's copies are
// served for ListTTL only.
func (m *Model) startDocWatchLocked(ctx context.Context, db string, d *dbCopy) {
	d.watch = pendingWatch{}
	go func() {
		w, err := m.b.WatchDocuments(ctx, db, func(ev DocEvent) { m.applyDoc(db, ev) })
		m.docs.mu.Lock()
		cur, kept := m.docs.dbs[db]
		if err != nil {
			if kept && cur == d {
				d.watch, d.stopped = nil, m.cfg.Now()
			}
			m.docs.mu.Unlock()
			m.log.Debug("thread db watch refused", "db", db, "err", err)
			return
		}
		if !kept || cur != d || m.docs.follow == nil {
			m.docs.mu.Unlock()
			w.Close() // dropped from the bound, or no longer following, meanwhile
			return
		}
		d.watch = w
		m.docs.mu.Unlock()
		select {
		case <-w.Ready():
			m.docs.mu.Lock()
			if d.watch == w {
				d.watchUp = true
			}
			m.docs.mu.Unlock()
		case <-w.Done():
		}
	}()
}

// pendingWatch holds a DB's place while its watch is being opened.
type pendingWatch struct{}

func (pendingWatch) Close()                 {}
func (pendingWatch) Done() <-chan struct{}  { return nil }
func (pendingWatch) Ready() <-chan struct{} { return nil }

// followDocs starts watching the DBs touched from now on; stopDocs closes
// every DB watch and stops watching.
func (m *Model) followDocs(ctx context.Context) {
	m.docs.mu.Lock()
	m.docs.follow = ctx
	m.docs.mu.Unlock()
}

func (m *Model) stopDocs() {
	m.docs.mu.Lock()
	m.docs.follow = nil
	var ws []Watch
	for _, d := range m.docs.dbs {
		if d.watch != nil {
			ws = append(ws, d.watch)
		}
		d.watch, d.watchUp = nil, false
	}
	m.docs.mu.Unlock()
	closeAll(ws)
}

// freshLocked reports whether a copy made at `at` may still be served.
func (m *Model) freshLocked(d *dbCopy, at time.Time) bool {
	ttl := m.cfg.ListTTL
	if d.watchUp && m.cfg.WatchTTL > 0 {
		ttl = m.cfg.WatchTTL
	}
	return ttl > 0 && m.cfg.Now().Sub(at) < ttl
}

// applyDoc folds one event of db's watch into the copy and reports what a
// reader can see changed. An event that says nothing new (the echo of a
// write made here) reports nothing.
func (m *Model) applyDoc(db string, ev DocEvent) {
	switch ev.Kind {
	case EventCreate, EventSave, EventDelete:
		var doc *Document
		if ev.Kind != EventDelete && ev.JSON != nil {
			if out, err := RenderDocument(ev.JSON); err == nil {
				doc = &Document{ID: ev.ID, JSON: out}
			}
		}
		m.docs.mu.Lock()
		d, ok := m.docs.dbs[db]
		if !ok {
			m.docs.mu.Unlock()
			return
		}
		d.gen++
		c := d.docs[ev.Collection]
		if c != nil && c.ok {
			old, had := c.byID[ev.ID]
			switch {
			case ev.Kind == EventDelete:
				if !had {
					m.docs.mu.Unlock()
					return
				}
				delete(c.byID, ev.ID)
			case doc == nil:
				c.ok = false // changed, and we cannot tell how: list again
			case had && bytes.Equal(old.JSON, doc.JSON):
				m.docs.mu.Unlock()
				return
			default:
				c.byID[ev.ID] = *doc
			}
		}
		m.docs.mu.Unlock()
		m.mu.Lock()
		m.stats.WatchEvents++
		m.mu.Unlock()
		if ev.Kind != EventDelete && doc == nil {
			doc = &Document{ID: ev.ID}
		}
		m.onChange(Change{Kind: DocumentChanged, Thread: db, Collection: ev.Collection, ID: ev.ID, Doc: doc})
	case EventDisconnected, EventReconnected, EventStopped:
		m.docs.mu.Lock()
		d, ok := m.docs.dbs[db]
		if ok {
			d.gen++
			d.collsOK = false
			d.docs = map[string]*collCopy{}
			d.watchUp = ev.Kind == EventReconnected
			if ev.Kind == EventStopped {
				d.watch, d.stopped = nil, m.cfg.Now()
			}
		}
		m.docs.mu.Unlock()
		if ok {
			m.onChange(Change{Kind: CollectionsChanged, Thread: db, Err: ev.Err})
		}
	}
}

// Collections returns db's collections, sorted by name.
func (m *Model) Collections(ctx context.Context, db string) ([]Collection, error) {
	m.docs.mu.Lock()
	d, drop := m.dbLocked(db)
	if d.collsOK && m.freshLocked(d, d.collsAt) {
		out := slices.Clone(d.colls)
		m.docs.mu.Unlock()
		closeAll(drop)
		return out, nil
	}
	m.docs.mu.Unlock()
	closeAll(drop)
	v, err := m.shared(ctx, "collections/"+db, func(ctx context.Context) (any, error) {
		m.docs.mu.Lock()
		gen := d.gen
		m.docs.mu.Unlock()
		at := m.cfg.Now()
		cs, err := m.b.Collections(ctx, db)
		if err != nil {
			return nil, err
		}
		cs = slices.Clone(cs)
		slices.SortFunc(cs, func(a, b Collection) int { return strings.Compare(a.Name, b.Name) })
		m.docs.mu.Lock()
		changed := false
		if d.gen == gen {
			changed = d.collsOK && !sameCollections(d.colls, cs)
			d.colls, d.collsAt, d.collsOK = cs, at, true
		}
		m.docs.mu.Unlock()
		if changed {
			m.onChange(Change{Kind: CollectionsChanged, Thread: db})
		}
		return cs, nil
	})
	if err != nil {
		return nil, err
	}
	return slices.Clone(v.([]Collection)), nil
}

func sameCollections(a, b []Collection) bool {
	return slices.EqualFunc(a, b, func(x, y Collection) bool {
		return x.Name == y.Name && bytes.Equal(x.Schema, y.Schema) && slices.Equal(x.Indexes, y.Indexes)
	})
}

// Collection returns one of db's collections, or ErrNotFound.
func (m *Model) Collection(ctx context.Context, db, name string) (Collection, error) {
	cs, err := m.Collections(ctx, db)
	if err != nil {
		return Collection{}, err
	}
	for _, c := range cs {
		if c.Name == name {
			return c, nil
		}
	}
	return Collection{}, fmt.Errorf("collection %q: %w", name, ErrNotFound)
}

// patchCollection changes db's copy after a local change to the
// collection name: c is what it is now (nil: deleted); empty says it holds
// no documents (just made), so its listing is known without asking.
func (m *Model) patchCollection(db, name string, c *Collection, empty bool) {
	m.docs.mu.Lock()
	defer m.docs.mu.Unlock()
	d, ok := m.docs.dbs[db]
	if !ok {
		return
	}
	d.gen++
	d.colls = slices.DeleteFunc(d.colls, func(x Collection) bool { return x.Name == name })
	if c == nil {
		delete(d.docs, name)
		return
	}
	d.colls = append(d.colls, *c)
	slices.SortFunc(d.colls, func(a, b Collection) int { return strings.Compare(a.Name, b.Name) })
	if empty {
		d.docs[name] = &collCopy{byID: map[string]Document{}, at: m.cfg.Now(), ok: true}
	}
}

// NewCollection creates a collection with the permissive schema (any
// object with a string _id), as mkdir does.
func (m *Model) NewCollection(ctx context.Context, db, name string) (Collection, error) {
	if !ValidCollectionName(name) {
		return Collection{}, fmt.Errorf("collection name %q: letters, digits and single inner hyphens only: %w", name, ErrInvalid)
	}
	m.touch(db)
	c := Collection{Name: name, Schema: slices.Clone(PermissiveSchema)}
	if err := m.b.NewCollection(ctx, db, c); err != nil {
		return Collection{}, err
	}
	m.patchCollection(db, name, &c, true)
	return c, nil
}

// SetSchema replaces a collection's schema, keeping its indexes. The hub
// refuses a schema that does not compile or that the documents it holds
// violate.
func (m *Model) SetSchema(ctx context.Context, db, name string, schema []byte) (Collection, error) {
	canon, err := ParseSchema(schema)
	if err != nil {
		return Collection{}, err
	}
	c, err := m.Collection(ctx, db, name)
	if err != nil {
		return Collection{}, err
	}
	c.Schema = canon
	if err := m.b.UpdateCollection(ctx, db, c); err != nil {
		return Collection{}, err
	}
	m.patchCollection(db, name, &c, false)
	return c, nil
}

// DeleteCollection deletes an empty collection; one that holds documents
// (as the hub says now, not a copy) is ErrNotEmpty.
func (m *Model) DeleteCollection(ctx context.Context, db, name string) error {
	m.touch(db)
	ds, err := m.b.FindDocuments(ctx, db, name)
	if err != nil {
		return err
	}
	if len(ds) > 0 {
		return fmt.Errorf("collection %q holds %d documents: %w", name, len(ds), ErrNotEmpty)
	}
	if err := m.b.DeleteCollection(ctx, db, name); err != nil {
		return err
	}
	m.patchCollection(db, name, nil, false)
	return nil
}

// Documents returns the documents of a collection, sorted by _id, each
// rendered as its file reads. Documents the hub sent that are no JSON
// object are left out (and logged): they cannot be a file.
func (m *Model) Documents(ctx context.Context, db, coll string) ([]Document, error) {
	m.docs.mu.Lock()
	d, drop := m.dbLocked(db)
	if c := d.docs[coll]; c != nil && c.ok && m.freshLocked(d, c.at) {
		out := sortedDocs(c.byID)
		m.docs.mu.Unlock()
		closeAll(drop)
		return out, nil
	}
	m.docs.mu.Unlock()
	closeAll(drop)
	v, err := m.shared(ctx, "documents/"+db+"/"+coll, func(ctx context.Context) (any, error) {
		m.docs.mu.Lock()
		gen := d.gen
		m.docs.mu.Unlock()
		at := m.cfg.Now()
		raw, err := m.b.FindDocuments(ctx, db, coll)
		if err != nil {
			return nil, err
		}
		byID := make(map[string]Document, len(raw))
		for _, r := range raw {
			out, err := RenderDocument(r.JSON)
			if err != nil {
				m.log.Warn("thread db: a document is not a JSON object: not shown", "db", db, "collection", coll, "id", r.ID, "err", err)
				continue
			}
			byID[r.ID] = Document{ID: r.ID, JSON: out}
		}
		m.docs.mu.Lock()
		if d.gen == gen {
			d.docs[coll] = &collCopy{byID: byID, at: at, ok: true}
		}
		m.docs.mu.Unlock()
		return sortedDocs(byID), nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]Document), nil
}

func sortedDocs(byID map[string]Document) []Document {
	out := make([]Document, 0, len(byID))
	for _, doc := range byID {
		out = append(out, doc)
	}
	slices.SortFunc(out, func(a, b Document) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Document returns one document, rendered: from the collection's copy
// while it is fresh, else from the hub (one instance, not the listing).
func (m *Model) Document(ctx context.Context, db, coll, id string) (Document, error) {
	m.docs.mu.Lock()
	d, drop := m.dbLocked(db)
	if c := d.docs[coll]; c != nil && c.ok && m.freshLocked(d, c.at) {
		doc, ok := c.byID[id]
		m.docs.mu.Unlock()
		closeAll(drop)
		if !ok {
			return Document{}, fmt.Errorf("%s/%s: %w", coll, id, ErrNotFound)
		}
		return doc, nil
	}
	m.docs.mu.Unlock()
	closeAll(drop)
	raw, err := m.b.FindDocument(ctx, db, coll, id)
	if err != nil {
		return Document{}, err
	}
	out, err := RenderDocument(raw.JSON)
	if err != nil {
		return Document{}, fmt.Errorf("%s/%s: the hub sent %w", coll, id, err)
	}
	return Document{ID: id, JSON: out}, nil
}

// PutDocument creates or saves the document id from what was written to
// its file (ParseDocument says what is accepted): exists says whether the
// writer found the file there, which call to try first; if the hub says
// otherwise (it was deleted, or made, meanwhile), the other one is tried
// once. It returns the document as its file now reads.
func (m *Model) PutDocument(ctx context.Context, db, coll, id string, body []byte, exists bool) (Document, error) {
	if !ValidDocumentID(id) {
		return Document{}, fmt.Errorf("document _id %q cannot be a file name: %w", id, ErrInvalid)
	}
	canon, err := ParseDocument(id, body)
	if err != nil {
		return Document{}, err
	}
	m.touch(db)
	create := func() error { return m.b.CreateDocument(ctx, db, coll, canon) }
	save := func() error { return m.b.SaveDocument(ctx, db, coll, canon) }
	if exists {
		err = save()
		if errors.Is(err, ErrNotFound) {
			err = create()
		}
	} else {
		err = create()
		if errors.Is(err, ErrExists) {
			// Made elsewhere meanwhile, or a unique index refuses the
			// value: the save then fails for the same reason.
			err = save()
		}
	}
	if err != nil {
		return Document{}, err
	}
	doc := Document{ID: id, JSON: append(canon, '\n')}
	if m.patchDocument(db, coll, id, &doc) {
		m.onChange(Change{Kind: DocumentChanged, Thread: db, Collection: coll, ID: id, Doc: &doc})
	}
	return doc, nil
}

// DeleteDocument deletes the document id.
func (m *Model) DeleteDocument(ctx context.Context, db, coll, id string) error {
	m.touch(db)
	if err := m.b.DeleteDocument(ctx, db, coll, id); err != nil {
		return err
	}
	if m.patchDocument(db, coll, id, nil) {
		m.onChange(Change{Kind: DocumentChanged, Thread: db, Collection: coll, ID: id})
	}
	return nil
}

// patchDocument applies a local write to the copy (doc nil: deleted) and
// reports whether a reader can see a difference.
func (m *Model) patchDocument(db, coll, id string, doc *Document) bool {
	m.docs.mu.Lock()
	defer m.docs.mu.Unlock()
	d, ok := m.docs.dbs[db]
	if !ok {
		return true
	}
	d.gen++
	c := d.docs[coll]
	if c == nil || !c.ok {
		return true
	}
	old, had := c.byID[id]
	if doc == nil {
		delete(c.byID, id)
		return had
	}
	c.byID[id] = *doc
	return !had || !bytes.Equal(old.JSON, doc.JSON)
}

// DocumentsWatched reports whether db's watch is up and confirmed: every
// change to its documents reaches the model from then on.
func (m *Model) DocumentsWatched(db string) bool {
	m.docs.mu.Lock()
	defer m.docs.mu.Unlock()
	d, ok := m.docs.dbs[db]
	return ok && d.watchUp
}
