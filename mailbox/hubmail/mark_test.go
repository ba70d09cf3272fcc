package hubmail

import (
	"errors"
	"fmt"
	"testing"

	"github.com/hubfs/hubfs/hub"
	"github.com/hubfs/hubfs/mailbox"
)

// TestMarkGivesEveryHubErrorItsKind: the layers above tell failures apart by
// the model's kinds alone, so every hub sentinel must come up as its kind,
// its text and hub chain kept.
func TestMarkGivesEveryHubErrorItsKind(t *testing.T) {
	for _, k := range kinds {
		err := mark(fmt.Errorf("op: %w", k.hub))
		if !errors.Is(err, k.model) || !errors.Is(err, k.hub) {
			t.Errorf("mark(%v): is model kind %v, is hub sentinel %v; want both", k.hub, errors.Is(err, k.model), errors.Is(err, k.hub))
		}
		if err.Error() != "op: "+k.hub.Error() {
			t.Errorf("mark changed the text: %q", err)
		}
	}
	// A bad API key is also unauthenticated, as in hub.
	if err := mark(hub.ErrBadAPIKey); !errors.Is(err, mailbox.ErrBadAPIKey) || !errors.Is(err, mailbox.ErrUnauthenticated) {
		t.Errorf("mark(ErrBadAPIKey) = %v: want both kinds", err)
	}
	if mark(nil) != nil {
		t.Error("mark(nil) is not nil")
	}
	plain := errors.New("not the hub's")
	if mark(plain) != plain || mailbox.Code(plain) != "" {
		t.Error("an error with no kind and no code was changed")
	}
}
