package hub

// SigMsg exposes the signed date the next call sends, so the auth test can
// watch the signature renew without waiting half an hour.
func (c *Client) SigMsg() string {
	c.auth.mu.Lock()
	defer c.auth.mu.Unlock()
	return c.auth.sigMsg
}
