package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func drain(t *testing.T, s *Subscription, n int) []Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var got []Event
	for range n {
		e, err := s.Next(ctx)
		if err != nil {
			t.Fatalf("Next after %d events: %v", len(got), err)
		}
		got = append(got, e)
	}
	return got
}

func TestEveryReaderGetsEveryEventInOrder(t *testing.T) {
	b := NewBroker(100)
	r1, r2 := b.Subscribe(), b.Subscribe()
	defer r1.Close()
	defer r2.Close()
	for i := range 50 {
		b.Publish(Event{Type: TypeNew, Box: "inbox", ID: fmt.Sprint(i)})
	}
	for _, r := range []*Subscription{r1, r2} {
		got := drain(t, r, 50)
		for i, e := range got {
			if e.ID != fmt.Sprint(i) {
				t.Fatalf("event %d has id %q", i, e.ID)
			}
		}
	}
}

func TestReaderSeesOnlyEventsAfterSubscribing(t *testing.T) {
	b := NewBroker(10)
	b.Publish(Event{Type: TypeNew, ID: "before"})
	r := b.Subscribe()
	defer r.Close()
	b.Publish(Event{Type: TypeNew, ID: "after"})
	if got := drain(t, r, 1); got[0].ID != "after" {
		t.Fatalf("first event = %q, want the one published after Subscribe", got[0].ID)
	}
}

func TestSlowReaderGetsOverflowAtTheGapAndDoesNotSlowOthers(t *testing.T) {
	b := NewBroker(4)
	slow, fast := b.Subscribe(), b.Subscribe()
	defer slow.Close()
	defer fast.Close()

	for i := range 10 {
		b.Publish(Event{Type: TypeNew, ID: fmt.Sprint(i)})
		if got := drain(t, fast, 1); got[0].ID != fmt.Sprint(i) {
			t.Fatalf("fast reader got %q, want %d", got[0].ID, i)
		}
	}
	got := drain(t, slow, 5)
	want := []string{"0", "1", "2", "3"}
	for i, id := range want {
		if got[i].ID != id {
			t.Fatalf("slow reader event %d = %+v, want id %s", i, got[i], id)
		}
	}
	if got[4].Type != TypeOverflow || got[4].Dropped != 6 {
		t.Fatalf("after the kept events: %+v, want an overflow of 6", got[4])
	}

	// Once it has caught up, it receives new events again, after the marker.
	b.Publish(Event{Type: TypeNew, ID: "10"})
	if got := drain(t, slow, 1); got[0].ID != "10" {
		t.Fatalf("after overflow: %+v", got[0])
	}
}

func TestOverflowMarkerPrecedesLaterEvents(t *testing.T) {
	b := NewBroker(3)
	r := b.Subscribe()
	defer r.Close()
	for i := range 5 { // 0,1,2 kept; 3,4 lost
		b.Publish(Event{Type: TypeNew, ID: fmt.Sprint(i)})
	}
	drain(t, r, 3)
	b.Publish(Event{Type: TypeNew, ID: "5"})
	got := drain(t, r, 2)
	if got[0].Type != TypeOverflow || got[0].Dropped != 2 || got[1].ID != "5" {
		t.Fatalf("got %+v then %+v, want overflow(2) then event 5", got[0], got[1])
	}
}

func TestNextHonoursContextAndClose(t *testing.T) {
	b := NewBroker(2)
	r := b.Subscribe()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := r.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next on an empty queue = %v, want the context's error", err)
	}

	var wg sync.WaitGroup
	wg.Add(1)
	var err error
	go func() {
		defer wg.Done()
		_, err = r.Next(context.Background())
	}()
	r.Close()
	wg.Wait()
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("blocked Next after Close = %v, want ErrClosed", err)
	}
	if b.Subscribers() != 0 {
		t.Fatalf("closed reader still subscribed")
	}
	b.Publish(Event{Type: TypeNew}) // must not panic or block
}

func TestEventLineIsOneJSONObject(t *testing.T) {
	at := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	line := Event{Type: TypeNew, Box: "inbox", ID: "01abc", From: "bbaa", At: at}.Line()
	if line[len(line)-1] != '\n' {
		t.Fatal("line does not end in a newline")
	}
	var m map[string]any
	if err := json.Unmarshal(line, &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"type": "new", "box": "inbox", "id": "01abc", "from": "bbaa", "at": "2026-11-28T10:00:00Z"}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
}

func TestConcurrentPublishAndRead(t *testing.T) {
	b := NewBroker(1000)
	r := b.Subscribe()
	defer r.Close()
	var wg sync.WaitGroup
	for p := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				b.Publish(Event{Type: TypeNew, ID: fmt.Sprintf("%d-%d", p, i)})
			}
		}()
	}
	got := drain(t, r, 400)
	wg.Wait()
	seen := map[string]bool{}
	for _, e := range got {
		if seen[e.ID] {
			t.Fatalf("duplicate %s", e.ID)
		}
		seen[e.ID] = true
	}
}

func TestBrokerCloseEndsReadersAfterTheirQueue(t *testing.T) {
	b := NewBroker(4)
	r := b.Subscribe()
	b.Publish(Event{Type: TypeNew, ID: "queued"})
	b.Close()
	if got := drain(t, r, 1); got[0].ID != "queued" {
		t.Fatalf("after Close: %+v, want the queued event first", got[0])
	}
	if _, err := r.Next(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next after Close and the queue = %v, want ErrClosed", err)
	}
	late := b.Subscribe()
	if _, err := late.Next(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Subscribe after Close: Next = %v, want ErrClosed", err)
	}
	if n := b.Subscribers(); n != 0 {
		t.Fatalf("%d subscribers after Close", n)
	}
}
