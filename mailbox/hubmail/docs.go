package hubmail

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/identity"
	"github.com/hubfs/hubfs/mailbox"
)

// DocClient is the part of *hub.Client the thread DBs' documents use.
type DocClient interface {
	ListCollections(ctx context.Context, db identity.ThreadID) ([]hub.CollectionInfo, error)
	NewCollection(ctx context.Context, db identity.ThreadID, info hub.CollectionInfo) error
	UpdateCollection(ctx context.Context, db identity.ThreadID, info hub.CollectionInfo) error
	DeleteCollection(ctx context.Context, db identity.ThreadID, name string) error
	Find(ctx context.Context, db identity.ThreadID, coll string, query []byte) ([][]byte, error)
	FindByID(ctx context.Context, db identity.ThreadID, coll, id string) ([]byte, error)
	Create(ctx context.Context, db identity.ThreadID, coll string, instances ...[]byte) ([]string, error)
	Save(ctx context.Context, db identity.ThreadID, coll string, instances ...[]byte) error
	Delete(ctx context.Context, db identity.ThreadID, coll string, ids ...string) error
	WatchDB(ctx context.Context, db identity.ThreadID, fn func(hub.InstanceEvent)) (*hub.Watch, error)
}

var _ DocClient = (*hub.Client)(nil)

func parseDB(db string) (identity.ThreadID, error) {
	id, err := identity.ParseThreadID(db)
	if err != nil {
		return identity.ThreadID{}, mark(fmt.Errorf("thread %q: %w", db, hub.ErrInvalid))
	}
	return id, nil
}

func (b *Backend) Collections(ctx context.Context, db string) ([]mailbox.Collection, error) {
	id, err := parseDB(db)
	if err != nil {
		return nil, err
	}
	infos, err := b.cl.ListCollections(ctx, id)
	b.called("ListCollections", err)
	if err != nil {
		return nil, mark(err)
	}
	out := make([]mailbox.Collection, 0, len(infos))
	for _, info := range infos {
		c := mailbox.Collection{Name: info.Name, Schema: info.Schema}
		for _, ix := range info.Indexes {
			c.Indexes = append(c.Indexes, mailbox.Index(ix))
		}
		out = append(out, c)
	}
	return out, nil
}

func infoOf(c mailbox.Collection) hub.CollectionInfo {
	info := hub.CollectionInfo{Name: c.Name, Schema: c.Schema}
	for _, ix := range c.Indexes {
		info.Indexes = append(info.Indexes, hub.Index(ix))
	}
	return info
}

func (b *Backend) NewCollection(ctx context.Context, db string, c mailbox.Collection) error {
	id, err := parseDB(db)
	if err != nil {
		return err
	}
	err = b.cl.NewCollection(ctx, id, infoOf(c))
	b.called("NewCollection", err)
	return mark(err)
}

func (b *Backend) UpdateCollection(ctx context.Context, db string, c mailbox.Collection) error {
	id, err := parseDB(db)
	if err != nil {
		return err
	}
	err = b.cl.UpdateCollection(ctx, id, infoOf(c))
	b.called("UpdateCollection", err)
	return mark(err)
}

func (b *Backend) DeleteCollection(ctx context.Context, db, name string) error {
	id, err := parseDB(db)
	if err != nil {
		return err
	}
	err = b.cl.DeleteCollection(ctx, id, name)
	b.called("DeleteCollection", err)
	return mark(err)
}

// instanceID reads the _id of an instance the hub sent ("" if it has none).
func instanceID(raw []byte) string {
	var v struct {
		ID string `json:"_id"`
	}
	if json.Unmarshal(raw, &v) != nil {
		return ""
	}
	return v.ID
}

func (b *Backend) FindDocuments(ctx context.Context, db, coll string) ([]mailbox.Document, error) {
	id, err := parseDB(db)
	if err != nil {
		return nil, err
	}
	raws, err := b.cl.Find(ctx, id, coll, nil)
	b.called("Find", err)
	if err != nil {
		return nil, mark(err)
	}
	out := make([]mailbox.Document, 0, len(raws))
	for _, raw := range raws {
		if iid := instanceID(raw); iid != "" {
			out = append(out, mailbox.Document{ID: iid, JSON: raw})
		}
	}
	return out, nil
}

func (b *Backend) FindDocument(ctx context.Context, db, coll, iid string) (mailbox.Document, error) {
	id, err := parseDB(db)
	if err != nil {
		return mailbox.Document{}, err
	}
	raw, err := b.cl.FindByID(ctx, id, coll, iid)
	b.called("FindByID", err)
	if err != nil {
		return mailbox.Document{}, mark(err)
	}
	return mailbox.Document{ID: iid, JSON: raw}, nil
}

func (b *Backend) CreateDocument(ctx context.Context, db, coll string, doc []byte) error {
	id, err := parseDB(db)
	if err != nil {
		return err
	}
	_, err = b.cl.Create(ctx, id, coll, doc)
	b.called("Create", err)
	return mark(err)
}

func (b *Backend) SaveDocument(ctx context.Context, db, coll string, doc []byte) error {
	id, err := parseDB(db)
	if err != nil {
		return err
	}
	err = b.cl.Save(ctx, id, coll, doc)
	b.called("Save", err)
	return mark(err)
}

func (b *Backend) DeleteDocument(ctx context.Context, db, coll, iid string) error {
	id, err := parseDB(db)
	if err != nil {
		return err
	}
	err = b.cl.Delete(ctx, id, coll, iid)
	b.called("Delete", err)
	return mark(err)
}

// WatchDocuments opens db's instance watch.
func (b *Backend) WatchDocuments(ctx context.Context, db string, fn func(mailbox.DocEvent)) (mailbox.Watch, error) {
	id, err := parseDB(db)
	if err != nil {
		return nil, err
	}
	w, err := b.cl.WatchDB(ctx, id, func(ev hub.InstanceEvent) {
		out := mailbox.DocEvent{Collection: ev.Collection, ID: ev.ID, JSON: ev.Instance, Err: mark(ev.Err)}
		out.Kind = b.eventKind(ev.Type, ev.Err)
		fn(out)
	})
	if err != nil {
		return nil, mark(err)
	}
	return w, nil
}
