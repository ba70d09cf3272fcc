package mailbox

// WaitAhead waits for the decrypt-ahead runs started so far to end.
func (m *Model) WaitAhead() { m.ahead.wg.Wait() }

// SetHeapProbe replaces how the decrypt-ahead reads the heap; call it
// before the first listing.
func (m *Model) SetHeapProbe(f func() uint64) { m.ahead.heap = f }

// Closing reports whether Close has begun (the runs are cancelled).
func (m *Model) Closing() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closed
}
