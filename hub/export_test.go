package hub

// SigMsg exposes the signed date the next call sends, so the auth test can
// watch the signature renew without waiting half an hour.
func (c *Client) SigMsg() string {
	c.auth.mu.Lock()
	defer c.auth.mu.Unlock()
	return c.auth.sigMsg
}

// SetFindPage sets the page size of a Find of every instance until the
// test ends.
func SetFindPage(t interface{ Cleanup(func()) }, n int) {
	old := findPage
	findPage = n
	t.Cleanup(func() { findPage = old })
}
